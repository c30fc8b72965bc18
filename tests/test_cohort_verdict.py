"""The verdict of a cohort (issue 31): the compare and checks functions over every finished member, in a fixed
number of queries."""

import re

import pytest

from replay.cohorts.admission import tick
from replay.cohorts.verdict import verdict_of, wilson
from runs import services
from runs.engine.executor import execute
from runs.models import Run

from .builders import finished_run, support_workflow
from .cohorts import body, new_cohort


@pytest.fixture
def workflow(acme):
    return support_workflow(acme)


def run_children(cohort):
    """Admit every member and execute its replay in-process, then let a tick record the outcomes."""
    for _ in range(5):
        tick()
        for child in cohort.members.exclude(child_run=None).values_list("child_run_id", flat=True):
            if Run.objects.filter(pk=child, status="pending").exists():
                execute(child)
    tick()


def prompt_cohort(operator, acme, workflow, n, **extra):
    version, revision = workflow
    new = services.add_prompt_revision(artifact=revision.artifact, content="Answer {{ trigger.name }} briefly")
    sources = [finished_run(version, payload={"name": f"N{i}", "email": "x@example.com"}) for i in range(n)]
    change = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": new.content_hash}
    data = body(version.workflow, run_ids=[r.pk for r in sources], replay=change, canary=0, **extra)
    return new_cohort(operator, acme, data), sources


def test_wilson_interval_of_known_values():
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(8, 10) == (0.4902, 0.9433)
    assert wilson(10, 10)[1] == 1.0


def test_changed_outputs_beside_the_baseline_lanes_rate_with_a_regression(operator, acme, workflow):
    cohort, sources = prompt_cohort(operator, acme, workflow, 6, baseline_percent=10)
    run_children(cohort)
    regressed = cohort.members.get(lane="candidate", source_run_id=sources[0].pk).child_run_id
    Run.objects.filter(pk=regressed).update(status="failed")
    verdict = verdict_of(cohort)
    assert verdict["changed_outputs"] == {"candidate": [6, 6], "baseline": [0, 5]}
    assert (verdict["regressions"], verdict["fixes"]) == (1, 0)
    assert verdict["inspect"][0] == {
        "source_run_id": sources[0].pk,
        "run_id": regressed,
        "why": verdict["inspect"][0]["why"],
    }
    assert verdict["inspect"][0]["why"].startswith("regression")
    assert {n["node_id"]: (n["changed"], n["of"]) for n in verdict["nodes"]}["draft"] == (6, 6)


def test_a_dry_run_node_whose_arguments_changed_counts_as_changed_as_compare_says(operator, acme, workflow):
    cohort, _ = prompt_cohort(operator, acme, workflow, 3, baseline_percent=0)
    run_children(cohort)
    nodes = {n["node_id"]: (n["changed"], n["of"]) for n in verdict_of(cohort)["nodes"]}
    assert nodes["notify"] == (3, 3)  # its result is the original's (not sent); the body it would send changed


def test_checks_count_passes_on_originals_and_replays_with_wilson_intervals(operator, acme, workflow):
    checks = [
        {"kind": "max_length", "node": "draft", "value": 1_000_000},
        {"kind": "max_length", "node": "draft", "value": 0},
    ]
    cohort, _ = prompt_cohort(operator, acme, workflow, 3, baseline_percent=0, checks=checks)
    run_children(cohort)
    long_enough, never = verdict_of(cohort)["checks"]
    assert (long_enough["passed"], long_enough["of"]) == ([3, 3], 3)
    assert long_enough["interval"] == [list(wilson(3, 3)), list(wilson(3, 3))]
    assert never["passed"] == [0, 0] and never["regressed"] == []


def test_a_check_against_the_original_is_not_judged_on_the_originals_rather_than_failed(
    operator_client, operator, acme, workflow
):
    checks = [{"kind": "similar_to_original", "node": "draft", "min_ratio": 0.0}]
    cohort, _ = prompt_cohort(operator, acme, workflow, 3, baseline_percent=0, checks=checks)
    run_children(cohort)
    (similar,) = verdict_of(cohort)["checks"]
    assert (similar["passed"], similar["judged"], similar["of"]) == ([0, 3], [0, 3], 3)
    assert similar["interval"] == [list(wilson(0, 0)), list(wilson(3, 3))]
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert re.search(
        r"similar_to_original <span class=\"mono\">draft</span></td><td class=\"num\"><span[^>]*>n/a</span>", page
    )
    assert "3 of 3 (" in page


def test_a_check_the_replay_fails_where_the_original_passed_is_a_regression_of_its_member(
    operator_client, operator, acme, workflow
):
    """As the compare page counts it: the headline, the kept flag and the Regressed filter agree with the table."""
    checks = [{"kind": "contains", "node": "draft", "value": "Reply to"}]  # in the original prompt, not the new
    cohort, sources = prompt_cohort(operator, acme, workflow, 2, baseline_percent=0, checks=checks)
    run_children(cohort)
    cohort.refresh_from_db()
    (contains,) = cohort.verdict["checks"]
    assert contains["passed"] == [2, 0] and len(contains["regressed"]) == 2
    assert cohort.verdict["regressions"] == 2
    assert set(cohort.members.values_list("regression", flat=True)) == {True}
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}?show=regressed").content.decode()
    assert ">2 regressions</span>" in page and "No member matches" not in page


def test_unfinished_replays_are_counted_neither_as_same_nor_as_passed(operator, acme, workflow):
    checks = [{"kind": "max_length", "node": "draft", "value": 1_000_000}]
    cohort, _ = prompt_cohort(operator, acme, workflow, 2, baseline_percent=0, checks=checks)
    tick()  # admitted, not executed
    verdict = verdict_of(cohort)
    assert verdict["changed_outputs"]["candidate"] == [0, 0]
    assert verdict["checks"][0]["passed"] == [0, 0] and verdict["checks"][0]["of"] == 0


def test_the_verdict_reads_a_fixed_number_of_queries_whatever_the_members(
    operator, acme, workflow, django_assert_max_num_queries
):
    checks = [{"kind": "max_length", "node": "draft", "value": 1_000_000}]
    cohort, _ = prompt_cohort(operator, acme, workflow, 8, baseline_percent=50, checks=checks)
    run_children(cohort)
    with django_assert_max_num_queries(4):
        verdict = verdict_of(cohort)
    assert verdict["changed_outputs"]["candidate"] == [8, 8]


def test_cancelled_replays_are_left_out_of_the_verdict(operator, acme, workflow):
    cohort, _ = prompt_cohort(operator, acme, workflow, 2, baseline_percent=0)
    tick()
    Run.objects.filter(pk__in=cohort.members.values("child_run_id")).update(status="cancelled")
    verdict = verdict_of(cohort)
    assert verdict["changed_outputs"]["candidate"] == [0, 0] and verdict["inspect"] == []


def test_a_finished_cohort_keeps_its_verdict_and_each_members_flags(operator, acme, workflow):
    cohort, sources = prompt_cohort(operator, acme, workflow, 3, baseline_percent=0)
    tick()
    Run.objects.filter(pk__in=cohort.members.values("child_run_id")).update(status="completed")
    regressed = cohort.members.get(source_run_id=sources[0].pk).child_run_id
    Run.objects.filter(pk=regressed).update(status="failed")
    tick()
    cohort.refresh_from_db()
    assert cohort.status == "completed" and cohort.verdict["regressions"] == 1
    flags = dict(cohort.members.values_list("source_run_id", "regression"))
    assert flags == {sources[0].pk: True, sources[1].pk: False, sources[2].pk: False}
    assert set(cohort.members.values_list("changed", flat=True)) == {True}


def test_a_cohort_started_from_a_later_node_compares_only_the_nodes_its_replays_ran(operator, acme, workflow):
    """The replays reused draft: counting the originals' draft against nothing would show savings that are not there."""
    version, _ = workflow
    sources = [finished_run(version, payload={"name": f"N{i}", "email": "x@example.com"}) for i in range(3)]
    change = {"mode": "as_is", "from_nodes": ["notify"]}
    data = body(version.workflow, run_ids=[r.pk for r in sources], replay=change, canary=0, baseline_percent=0)
    cohort = new_cohort(operator, acme, data)
    run_children(cohort)
    verdict = verdict_of(cohort)
    assert verdict["cost_usd"][0] == verdict["cost_usd"][1] and verdict["input_tokens"] == [None, None]
    assert not any(re.search(r"cost [+-]", case["why"]) for case in verdict["inspect"])


def test_compared_latency_is_the_time_of_the_steps_both_runs_ran_when_some_were_reused():
    from datetime import timedelta

    from replay.cohorts.verdict import compared_ms
    from runs.compare import StepFacts

    def step(id, ms):
        return StepFacts(
            id,
            "run_x",
            f"n{id}",
            "llm",
            id,
            "completed",
            "",
            "",
            "",
            "",
            timedelta(milliseconds=ms),
            None,
            None,
            None,
            None,
        )

    steps = [step(1, 700), step(2, 200), step(3, 100)]
    assert compared_ms(1200, steps, frozenset()) == 1200  # nothing reused: the run's own latency
    assert compared_ms(1200, steps, frozenset({1})) == 300
