"""schemathesis against the live API: a real gunicorn serving the test database, checked against its own description.

Every operation gets a bounded number of generated requests, valid and invalid, some with ids of real rows so that
they reach past the 404s; each answer must be no server error, must match the status, content type and schema its
operation documents, and must refuse what the description calls invalid.
"""

import os
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from runs.models import ApiToken

from ..builders import finished_run, renaming_version, run_in_status, support_workflow
from ..reliability.gunicorn import gunicorn

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Bounded for make test (about a minute); raise them for a deeper local hunt: CONTRACT_EXAMPLES=200 CONTRACT_SCENARIOS=300.
EXAMPLES_PER_OPERATION = int(os.environ.get("CONTRACT_EXAMPLES", 20))
SCENARIOS = int(os.environ.get("CONTRACT_SCENARIOS", 50))
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The declared inputs accept more than they describe where the HTML forms need it ("" for an absent field, "3" for
# a version number), so an invalid request may be accepted by chance: checked only where generation is derandomized.
CHECKS = [*CONFORMANCE, negative_data_rejection]


@pytest.fixture
def seeded(acme, admin_user):
    """Real rows for the generated requests to reach: a workflow of three versions, its prompt, runs in two states."""
    version, revision = support_workflow(acme)
    renaming_version(version)  # 2: the target of cross-version replays and mappings
    renaming_version(version)  # 3: the one DELETE may delete
    finished = finished_run(version)
    return {
        "token": ApiToken.issue(admin_user)[1],
        "slug": acme.slug,
        "workflow_id": version.workflow.workflow_id,
        "artifact_id": revision.artifact.artifact_id,
        "run_ids": [finished.run_id, run_in_status(version, "paused").run_id, finished_run(version).run_id],
    }


def real_parameters(operation, seeded) -> list[dict]:
    """Path (and query) parameters naming rows that exist; the generated ones mostly name nothing."""
    names = {p.name for p in operation.path_parameters}
    base = {"slug": seeded["slug"], "workflow_id": seeded["workflow_id"], "artifact_id": seeded["artifact_id"]}
    combos = [{**base, "run_id": run_id, "number": 3} for run_id in seeded["run_ids"]]
    found = [{"path_parameters": {k: v for k, v in combo.items() if k in names}} for combo in combos]
    if any(p.name == "source_version" for p in operation.query):
        pair = {"workflow_id": seeded["workflow_id"], "source_version": 1, "target_version": 2}
        found = [{**found[0], "query": pair}]
    return found


def fits_the_request_line(case) -> bool:
    """gunicorn answers a request line over 4094 bytes with its own HTML 414 before the API sees it: not ours to test."""
    sent = case.as_transport_kwargs(base_url="http://127.0.0.1")
    request = requests.Request(sent["method"], sent["url"], params=sent.get("params")).prepare()
    return len(request.path_url) < 4000


def exercise(operation, real: list[dict], headers: dict) -> Counter[int]:
    """Send the operation's generated requests and check each answer; returns how many got each status."""
    strategies = [
        operation.as_strategy(),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        *(operation.as_strategy(**parameters) for parameters in real),
    ]
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies).filter(fits_the_request_line))
    def check(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    check()
    return statuses


@pytest.fixture
def live(seeded):
    """The base URL of a gunicorn serving the seeded test database, and the description it serves."""
    # A long poll of the paused run waits its whole ?wait=: bounded below the requests' 10 s read timeout.
    with gunicorn(workers=1, threads=4, env={"LONG_POLL_MAX_WAIT": "2"}) as base:
        yield base, httpx.get(base + "/api/v1/openapi.json").json()


def test_every_operation_answers_as_its_description_says(live, seeded):
    base, description = live
    if True:
        schema = schemathesis.openapi.from_dict(description)
        schema.config.update(base_url=base)
        headers = {"Authorization": f"Bearer {seeded['token']}"}
        examples: dict[str, Counter[int]] = {}
        failures: dict[str, str] = {}
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            try:
                examples[operation.label] = exercise(operation, real_parameters(operation, seeded), headers)
            except Exception as exc:  # every operation is checked; the failures are reported together
                failures[operation.label] = str(exc)[:3000]
        total = sum(sum(c.values()) for c in examples.values())
        print(f"\n{len(operations)} operations, {total} examples")
        for label, statuses in examples.items():
            print(f"  {label}: {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert len(operations) == len(examples)


def test_linked_sequences_answer_as_the_description_says(live, seeded):
    """Create a prompt, a workflow on it, trigger it, cancel the run, replay it: each step fed by the last's answer."""
    base, description = live
    schema = schemathesis.openapi.from_dict(description)
    schema.config.update(base_url=base)
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    steps: Counter[str] = Counter()

    class Scenarios(schema.as_state_machine()):
        def before_call(self, case):
            # Scenarios start in the seeded workspace (a generated slug names none: 403 ends the scenario).
            if case.path_parameters and "slug" in case.path_parameters:
                case.path_parameters["slug"] = seeded["slug"]

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            steps[f"{case.operation.label} {response.status_code}"] += 1
            case.validate_response(response, checks=CONFORMANCE, transport_kwargs=kwargs)

    Scenarios.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            database=None,
            derandomize=True,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
        )
    )
    print(f"\n{SCENARIOS} scenarios, {sum(steps.values())} steps")
    for step, count in sorted(steps.items()):
        print(f"  {step}: {count}")
    assert steps, "no scenario ran"
