"""The cohorts API (issue 31): create, preview, list, detail, members, cancel, export; who may."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from config.openapi import document
from replay.cohorts.admission import tick
from replay.cohorts.models import Cohort
from runs.models import Run

from .builders import finished_run, support_workflow
from .cohorts import body, completed_runs, new_cohort


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def post(client, path, data, **headers):
    return client.post(path, json.dumps(data), content_type="application/json", **headers)


def test_create_answers_201_with_the_cohort_id_and_a_repeat_the_same_cohort(api, version):
    runs = completed_runs(version, 2)
    data = body(version.workflow, run_ids=[r.pk for r in runs])
    first = post(api, "/api/v1/acme/cohorts", data, HTTP_IDEMPOTENCY_KEY="nightly-1")
    again = post(api, "/api/v1/acme/cohorts", data, HTTP_IDEMPOTENCY_KEY="nightly-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["cohort_id"] == again.json()["cohort_id"] == Cohort.objects.get().pk


def test_an_unknown_field_is_a_400_naming_it(api, version):
    runs = completed_runs(version, 1)
    response = post(api, "/api/v1/acme/cohorts", {**body(version.workflow, run_ids=[runs[0].pk]), "colour": "red"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "colour"


def test_preview_answers_members_ineligible_plan_cost_and_eta(api, version):
    runs = completed_runs(version, 3)
    Run.objects.filter(pk=runs[2].pk).update(status="running")
    response = post(api, "/api/v1/acme/cohorts/preview", body(version.workflow, run_ids=[r.pk for r in runs]))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["members"] == 3 and answer["ineligible"] == {"in_flight": 1}
    assert answer["baseline"] == 2  # sampled among the members that replay: the one in flight will be skipped
    assert answer["plan"]["replayable"] and [n["node_id"] for n in answer["plan"]["nodes"]] == ["draft", "notify"]
    assert answer["eta_seconds"] >= 0 and Cohort.objects.count() == 0


def test_the_preview_prices_the_baseline_lane_as_is_and_the_candidates_with_the_change(api, version):
    ids = [finished_run(version).pk for _ in range(4)]  # steps with recorded usage: a plan can price them
    change = {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}

    def cost(path, data) -> list[Decimal]:
        answer = post(api, path, data).json()
        return [Decimal(v) for v in (answer.get("totals") or answer)["estimated_cost_usd"]]

    candidates = cost(
        "/api/v1/acme/cohorts/preview", body(version.workflow, run_ids=ids, replay=change, baseline_percent=0)
    )
    as_is = cost(f"/api/v1/acme/runs/{ids[0]}/replay-plan", {"mode": "as_is"})
    both = cost(
        "/api/v1/acme/cohorts/preview", body(version.workflow, run_ids=ids, replay=change, baseline_percent=100)
    )
    assert as_is != [c / 4 for c in candidates], "the change must price differently for this test to say anything"
    assert [abs(b - (c + 4 * a)) <= Decimal("1e-7") for b, c, a in zip(both, candidates, as_is, strict=True)] == [
        True,
        True,
    ]


def test_the_baseline_lane_is_sampled_among_the_members_that_replay(version, operator, acme):
    runs = completed_runs(version, 3)
    Run.objects.filter(pk=runs[2].pk).update(status="running")
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=100))
    baseline = set(cohort.members.filter(lane="baseline").values_list("source_run_id", flat=True))
    assert baseline == {runs[0].pk, runs[1].pk}


def test_a_check_on_a_node_no_version_of_the_runs_has_is_refused_and_creates_nothing(api, version):
    runs = completed_runs(version, 2)
    checks = [{"kind": "json_valid", "node": "draft"}, {"kind": "contains", "node": "drafts", "value": "Hi"}]
    data = body(version.workflow, run_ids=[r.pk for r in runs], checks=checks)
    for path in ("/api/v1/acme/cohorts/preview", "/api/v1/acme/cohorts"):
        response = post(api, path, data)
        assert response.status_code == 400, response.content
        assert "checks[1].node: no node 'drafts'" in response.json()["error"]["message"]
    assert Cohort.objects.count() == 0


def test_the_preview_plan_is_the_single_replays_preview(api, version):
    runs = completed_runs(version, 1)
    cohort = post(api, "/api/v1/acme/cohorts/preview", body(version.workflow, run_ids=[runs[0].pk])).json()
    single = post(api, f"/api/v1/acme/runs/{runs[0].pk}/replay-plan", {"mode": "as_is"}).json()
    assert cohort["plan"] == single


def test_detail_answers_counts_that_add_up_and_a_verdict(api, version, operator, acme):
    runs = completed_runs(version, 3)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0))
    tick()
    answer = api.get(f"/api/v1/acme/cohorts/{cohort.pk}").json()
    counts = answer["counts"]
    assert counts["total"] == 3 == sum(v for k, v in counts.items() if k != "total")
    assert answer["baseline_counts"]["total"] == 3
    assert answer["verdict"]["changed_outputs"]["candidate"][1] == 0  # no replay finished: none counted


def test_detail_answers_the_checks_its_verdict_evaluates_as_declared(api, version, operator, acme):
    runs = completed_runs(version, 2)
    checks = [{"kind": "json_valid", "node": "draft"}, {"kind": "max_latency_ms", "node": None, "value": 5000}]
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], checks=checks))
    answer = api.get(f"/api/v1/acme/cohorts/{cohort.pk}").json()
    assert [(c["kind"], c["node"]) for c in answer["checks"]] == [("json_valid", "draft"), ("max_latency_ms", None)]
    assert answer["checks"][1]["value"] == 5000


def test_members_are_paged_with_a_cursor(api, version, operator, acme):
    runs = completed_runs(version, 3)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0))
    first = api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members?limit=2").json()
    second = api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members?limit=2&cursor={first['next']}").json()
    ids = [m["source_run_id"] for m in first["members"] + second["members"]]
    assert ids == [r.pk for r in runs] and second["next"] is None
    assert first["members"][0] == {
        "source_run_id": runs[0].pk,
        "run_id": None,
        "lane": "candidate",
        "status": "pending",
        "reason": None,
        "changed": None,
        "regression": None,
    }


def test_the_list_is_in_keyset_pages_newest_first(api, version, operator, acme):
    runs = completed_runs(version, 1)
    made = [new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk])).pk for _ in range(3)]
    first = api.get("/api/v1/acme/cohorts?limit=2").json()
    second = api.get(f"/api/v1/acme/cohorts?limit=2&cursor={first['next']}").json()
    assert [c["cohort_id"] for c in first["cohorts"] + second["cohorts"]] == made[::-1]


def test_cancel_answers_the_cancelled_cohort_and_again_409(api, version, operator, acme):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    response = post(api, f"/api/v1/acme/cohorts/{cohort.pk}/cancel", {"cancel_running": True})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert post(api, f"/api/v1/acme/cohorts/{cohort.pk}/cancel", {}).status_code == 409


def test_exports_list_every_member_as_csv_and_jsonl(api, version, operator, acme):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0))
    csv_text = b"".join(api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members.csv").streaming_content).decode()
    lines = b"".join(api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members.jsonl").streaming_content).decode().splitlines()
    assert csv_text.splitlines()[0] == "source_run_id,run_id,lane,status,reason_code,reason_message,changed,regression"
    assert [json.loads(line)["source_run_id"] for line in lines] == [r.pk for r in runs]
    assert len(csv_text.splitlines()) == 3


def test_a_finished_cohorts_members_and_downloads_carry_its_changed_and_regression_flags(api, version, operator, acme):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0))
    tick()
    Run.objects.filter(pk__in=cohort.members.values("child_run_id")).update(status="completed")
    Run.objects.filter(pk=cohort.members.get(source_run_id=runs[0].pk).child_run_id).update(status="failed")
    tick()  # the verdict is kept, with each member's flags
    members = api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members").json()["members"]
    assert [(m["changed"], m["regression"]) for m in members] == [(True, True), (False, False)]
    csv_text = b"".join(api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members.csv").streaming_content).decode()
    assert [line.rsplit(",", 2)[1:] for line in csv_text.splitlines()[1:]] == [["true", "true"], ["false", "false"]]


def test_a_viewer_reads_but_cannot_create_or_cancel(viewer_api, version, operator, acme):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    assert viewer_api.get(f"/api/v1/acme/cohorts/{cohort.pk}").status_code == 200
    assert post(viewer_api, "/api/v1/acme/cohorts", body(version.workflow, run_ids=[runs[0].pk])).status_code == 403
    assert post(viewer_api, f"/api/v1/acme/cohorts/{cohort.pk}/cancel", {}).status_code == 403


def test_another_workspaces_cohort_answers_as_another_workspaces_run(outsider_api, version, operator, acme, globex):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    run_answer = outsider_api.get(f"/api/v1/globex/runs/{runs[0].pk}")
    cohort_answer = outsider_api.get(f"/api/v1/globex/cohorts/{cohort.pk}")
    assert run_answer.status_code == cohort_answer.status_code == 403
    assert outsider_api.get("/api/v1/globex/cohorts/cohort_000000000000").status_code == 404


def test_the_command_creates_shows_and_cancels_a_cohort(version, operator, tmp_path):
    runs = completed_runs(version, 2)
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(body(version.workflow, run_ids=[r.pk for r in runs])))
    out = StringIO()
    call_command("cohort", "create", "acme", str(path), "--as", "operator", stdout=out)
    cohort_id = out.getvalue().strip()
    assert Cohort.objects.get().pk == cohort_id
    shown = StringIO()
    call_command("cohort", "show", cohort_id, "--as", "operator", stdout=shown)
    assert json.loads(shown.getvalue())["counts"]["total"] == 2
    cancelled = StringIO()
    call_command("cohort", "cancel", cohort_id, "--cancel-running", "--as", "operator", stdout=cancelled)
    assert json.loads(cancelled.getvalue())["status"] == "cancelled"


@pytest.mark.parametrize("content", [None, b"\xff\xfe not UTF-8"])
def test_the_command_names_a_body_file_it_cannot_read_and_creates_nothing(version, operator, tmp_path, content):
    path = tmp_path / "cohort.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=f"Cannot read {path}"):
        call_command("cohort", "create", "acme", str(path), "--as", "operator")
    assert not Cohort.objects.exists()


def test_the_csv_export_is_described_as_csv_with_the_columns_it_writes(api, version, operator, acme):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    response = api.get(f"/api/v1/acme/cohorts/{cohort.pk}/members.csv")
    header = b"".join(response.streaming_content).decode().splitlines()[0]
    described = document()["paths"]["/api/v1/{slug}/cohorts/{cohort_id}/members.csv"]["get"]
    assert list(described["responses"]["200"]["content"]) == [response["Content-Type"].split(";")[0]] == ["text/csv"]
    assert f"({header.replace(',', ', ')})" in described["summary"]


def test_a_refusal_of_the_change_names_its_field_inside_replay(api, version):
    runs = completed_runs(version, 1)
    data = body(
        version.workflow,
        run_ids=[runs[0].pk],
        replay={"mode": "model", "model_id": "nope", "model_ref": "anthropic:nope"},
    )
    error = post(api, "/api/v1/acme/cohorts/preview", data).json()["error"]
    assert (error["field"], error["message"]) == (
        "replay.model_ref",
        "Model anthropic:nope is not in the model catalog.",
    )
