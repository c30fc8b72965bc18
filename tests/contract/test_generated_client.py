"""A client generated from the served document, as an integrator would make one, drives the whole replay flow.

openapi-python-client writes the client into a temporary directory (never into the project); the test imports it
from there and talks to a real gunicorn and a real Celery worker.
"""

import importlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runs.models import ApiToken

from ..reliability.gunicorn import gunicorn
from ..worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PACKAGE = "reprise_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """The client package, generated from the document the server serves; a warning fails the test."""
    from django.test import Client

    where = tmp_path_factory.mktemp("generated")
    (where / "openapi.json").write_bytes(Client().get("/api/v1/openapi.json").content)
    # The generator knows no JSON Lines: the export is read as bytes, as the README tells integrators to configure it.
    (where / "config.yml").write_text("content_type_overrides:\n  application/jsonl: application/octet-stream\n")
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", "openapi.json", "--meta", "none"]
        + ["--config", "config.yml"]
        + ["--output-path", PACKAGE],
        cwd=where,
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(where)},
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Warning" not in output and "Skipping" not in output, output
    return where


@pytest.fixture
def client_module(generated, monkeypatch):
    monkeypatch.syspath_prepend(str(generated))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    return importlib.import_module(PACKAGE)


def test_the_generated_client_names_every_operation(client_module, generated):
    from config.openapi import OPERATIONS

    modules = {p.stem for p in (generated / PACKAGE / "api").rglob("*.py") if p.stem != "__init__"}
    expected = {_snake(op.operation_id) for op in OPERATIONS}
    assert expected <= modules, expected - modules


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def test_the_generated_client_triggers_waits_previews_and_submits_a_replay(client_module, acme, operator):
    from reprise_client import AuthenticatedClient
    from reprise_client.api.prompts_workflows_and_runs import create_prompt, create_workflow, get_run, trigger_run
    from reprise_client.api.replay import preview_replay_plan, submit_replay
    from reprise_client.models import PromptInput, ReplayFields, TriggerInput, TriggerInputPayload, WorkflowBody

    token = ApiToken.issue(operator)[1]
    with gunicorn(workers=1, threads=4) as base, celery_worker():
        api = AuthenticatedClient(base_url=base, token=token, timeout=httpx.Timeout(20))
        prompt = create_prompt.sync(
            client=api, slug="acme", body=PromptInput(name="Reply", content="Hi {{ trigger.name }}")
        )
        node = {
            "id": "draft",
            "type": "llm",
            "model": "anthropic:claude-opus-4-7",
            "prompt": {"artifact_id": prompt.artifact_id, "content_hash": prompt.content_hash},
            "after": [],
        }
        workflow = create_workflow.sync(
            client=api, slug="acme", body=WorkflowBody.from_dict({"name": "Generated", "nodes": [node]})
        )
        payload = TriggerInputPayload.from_dict({"name": "Dana"})
        triggered = trigger_run.sync(
            client=api, slug="acme", workflow_id=workflow.workflow_id, body=TriggerInput(payload=payload)
        )
        run = _wait_until_finished(get_run, api, triggered.run_id)
        assert run.status == "completed" and run.steps[0].node_id == "draft"

        fields = ReplayFields.from_dict({"mode": "as_is"})
        plan = preview_replay_plan.sync(client=api, slug="acme", run_id=run.run_id, body=fields)
        assert plan.replayable and plan.confirmation_required is False and plan.plan_version.startswith("plan_")
        fields = ReplayFields.from_dict({"mode": "as_is", "plan_version": plan.plan_version})
        replay = submit_replay.sync(client=api, slug="acme", run_id=run.run_id, body=fields)
        assert replay.replay_of == run.run_id
        assert _wait_until_finished(get_run, api, replay.run_id).status == "completed"


def _wait_until_finished(get_run, api, run_id):
    def finished():
        return get_run.sync(client=api, slug="acme", run_id=run_id).status in ("completed", "failed", "cancelled")

    wait_for(finished, timeout=30, message=f"{run_id} to finish")
    return get_run.sync(client=api, slug="acme", run_id=run_id)


def test_the_generated_client_finds_what_to_replay_against_and_closes_the_loop(client_module, acme, operator):
    """Trigger with a key, wait by long poll, find the step's artifact, replay with a new revision, read the compare."""
    from reprise_client import AuthenticatedClient
    from reprise_client.api.prompts_workflows_and_runs import (
        compare_runs,
        create_prompt,
        create_prompt_revision,
        create_workflow,
        get_prompt,
        get_run,
        list_models,
        list_prompts,
        list_workflows,
        trigger_run,
    )
    from reprise_client.api.replay import submit_replay
    from reprise_client.models import PromptInput, ReplayFields, RevisionInput, TriggerInput, WorkflowBody

    token = ApiToken.issue(operator)[1]
    with gunicorn(workers=1, threads=4) as base, celery_worker():
        api = AuthenticatedClient(base_url=base, token=token, timeout=httpx.Timeout(40))
        prompt = create_prompt.sync(
            client=api, slug="acme", body=PromptInput(name="Reply", content="Hi {{ trigger.name }}")
        )
        models = list_models.sync(client=api, slug="acme").models
        model = next(m for m in models if m.allowed and m.provider == "anthropic")
        node = {"id": "draft", "type": "llm", "model": model.model_ref, "after": []}
        node["prompt"] = {"artifact_id": prompt.artifact_id, "content_hash": prompt.content_hash}
        workflow = create_workflow.sync(
            client=api, slug="acme", body=WorkflowBody.from_dict({"name": "Loop", "nodes": [node]})
        )
        assert workflow.workflow_id in {w.workflow_id for w in list_workflows.sync(client=api, slug="acme").workflows}
        assert prompt.artifact_id in {p.artifact_id for p in list_prompts.sync(client=api, slug="acme").prompts}

        body = TriggerInput.from_dict({"payload": {"name": "Dana"}})
        first = trigger_run.sync_detailed(
            client=api, slug="acme", workflow_id=workflow.workflow_id, body=body, idempotency_key="loop-1"
        )
        again = trigger_run.sync_detailed(
            client=api, slug="acme", workflow_id=workflow.workflow_id, body=body, idempotency_key="loop-1"
        )
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.parsed.run_id == first.parsed.run_id
        run = get_run.sync(client=api, slug="acme", run_id=first.parsed.run_id, wait=30)
        assert run.status == "completed"

        artifact_id = run.steps[0].prompt_artifact_id
        assert artifact_id == prompt.artifact_id
        revisions = get_prompt.sync(client=api, slug="acme", artifact_id=artifact_id).revisions
        assert revisions[0].used_by[0].node_id == "draft"
        newer = create_prompt_revision.sync(
            client=api, slug="acme", artifact_id=artifact_id, body=RevisionInput(content="Hello {{ trigger.name }}!")
        )
        fields = {"mode": "prompt", "prompt_artifact_id": artifact_id, "content_hash": newer.content_hash}
        replay = submit_replay.sync(client=api, slug="acme", run_id=run.run_id, body=ReplayFields.from_dict(fields))
        replayed = get_run.sync(client=api, slug="acme", run_id=replay.run_id, wait=30)
        assert replayed.status == "completed" and replayed.steps[0].prompt_hash == newer.content_hash
        comparison = compare_runs.sync(client=api, slug="acme", run_id=replay.run_id)
        assert comparison.base.run_id == run.run_id and comparison.rows[0].prompt_hash == [
            prompt.content_hash,
            newer.content_hash,
        ]


@pytest.mark.parametrize(
    "module", ["api.prompts_workflows_and_runs.export_runs", "api.replay_cohorts.export_cohort_members_jsonl"]
)
def test_the_generated_client_reads_a_json_lines_export_as_bytes(client_module, module):
    """The README's config (JSON Lines read as bytes) gives the stream as it came, not a failed parse of one line."""
    export = importlib.import_module(f"{PACKAGE}.{module}")
    body = b'{"run_id": "run_00000001"}\n{"run_id": "run_00000002"}\n'
    response = httpx.Response(200, content=body, headers={"Content-Type": "application/jsonl; charset=utf-8"})
    client = client_module.Client(base_url="http://127.0.0.1")
    assert export._build_response(client=client, response=response).parsed == body
