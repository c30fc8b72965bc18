"""`make bench FIGURES=scale`: the pages and hot paths at BENCH_SCALE_RUNS runs (1,000,000 by default).

PostgreSQL only, in a database of its own (BENCH_SCALE_PG_NAME, reprise_bench_scale), so a million runs never
slow the other figures; it is left in place after the run, to look at the pages. `python -m bench` runs this
module as a child process (its own Django settings) and reads the figures it prints as JSON lines.
"""

import json
import os
import sys
import time
from dataclasses import asdict

SCALE_DB = os.environ.get("BENCH_SCALE_PG_NAME", "reprise_bench_scale")
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "1000000"))
SAMPLES = 30
COHORT_MEMBERS = 10_000  # COHORT_MAX_MEMBERS: the largest cohort there may be
MARK = "scale-figure "  # a stdout line the parent reads as a figure


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _setup():
    os.environ["BENCH_PG_NAME"] = SCALE_DB  # read by bench.environment at import
    os.environ["BENCH_DB"] = "postgres"
    from .environment import configure, setup_django

    configure()
    setup_django()


def _members():
    from django.contrib.auth import get_user_model

    from runs.models import Account, ApiToken, Membership, Role, Workspace

    account = Account.objects.create(name="Scale")
    workspace = Workspace.objects.create(account=account, slug="scale", name="Scale")
    user = get_user_model().objects.create_user("scale-operator", password="scale-password-1")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OPERATOR)
    _, token = ApiToken.issue(user, name="scale")
    return workspace, user, token


class Figures(list):
    """The section's figures, each logged as it is measured."""

    def add(self, name, samples, **targets) -> None:
        from .figures import measured

        figure = measured(name, samples, **targets)
        self.append(figure)
        log(
            f"  {name}: median {figure.median}, p95 {figure.p95}"
            + (f", {figure.queries} queries" if figure.queries else "")
        )


def _deep_cursor(workspace) -> str:
    """The cursor of a page nine tenths of the way back: found once with OFFSET here, never by the page."""
    from runs.listing import Position, encode_cursor
    from runs.models import Run

    run = Run.objects.filter(workspace=workspace).order_by("-created_at", "-run_id")[RUNS * 9 // 10]
    return encode_cursor(Position(run.created_at, run.run_id, older=True))


def _plans(workspace, data) -> None:
    """The EXPLAIN (ANALYZE) of each list query at this scale, to the log."""
    from runs.http.input import parse
    from runs.listing import RunFilters, decode_cursor, page_query

    deep = decode_cursor(_deep_cursor(workspace))
    wf = data.workflows[1].workflow_id  # none of its runs failed (bench/scale_data.py): the worst case
    for label, values, position in (
        ("first page", {}, None),
        ("status=failed", {"status": "failed"}, None),
        ("workflow", {"workflow": wf}, None),
        ("replays only", {"lineage": "replays"}, None),
        ("run id prefix run_8f2", {"run_id_prefix": "run_8f2"}, None),
        ("page 90% back", {}, deep),
        (
            "status=failed, replays, workflow, 90% back",
            {"status": "failed", "lineage": "replays", "workflow": wf},
            deep,
        ),
    ):
        plan = page_query(workspace, parse(RunFilters, values), position, 50).explain(analyze=True)
        log(f"  EXPLAIN ANALYZE, {label}:\n" + "\n".join("    " + line for line in plan.splitlines()))


def _cohort_figures(figures: "Figures", api, workflow) -> None:
    """Issue 31: preview and create of a 10,000-member cohort from a filter, among this history's million runs."""
    from django.utils import timezone

    from runs.models import Run

    from .cohorts import preview_and_create

    # The filter's `from` is the creation time of the newest 10,000th original completed run of the workflow
    # (less a few for runs created in the same microsecond), so the selection is as large as a cohort may be.
    matching = Run.objects.filter(workflow=workflow, status="completed", replay_depth=0).order_by("-created_at")
    oldest = matching.values_list("created_at", flat=True)[COHORT_MEMBERS - 10]
    body = {
        "name": "scale",
        "workflow_id": workflow.workflow_id,
        "filter": {"status": ["completed"], "from": oldest.isoformat(), "to": timezone.now().isoformat()},
        "replay": {"mode": "as_is"},
        "canary": 0,
    }
    members = range(COHORT_MEMBERS - 19, COHORT_MEMBERS + 1)
    preview_and_create(figures.add, api, "scale", body, members=members, samples=5, label="scale: ")


def measure() -> list:
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from runs.engine.dispatch import stale_runs
    from runs.models import Run

    from . import scale_data
    from .figures import repeat
    from .suite import count_queries

    workspace, user, token = _members()
    began = time.perf_counter()
    data = scale_data.build(workspace, runs=RUNS, requested_by_id=user.pk)
    built = time.perf_counter() - began
    steps = RUNS * scale_data.STEPS
    log(f"Built {RUNS:,} runs and about {steps:,} steps with SQL in {built:.1f} s.")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE runs_run")  # as autovacuum would have: visibility map and statistics
    figures = Figures()
    figures.add(f"scale: build {RUNS:,} runs with SQL", [built], target_ms=120_000, target="<= 120 s")
    client = Client()
    client.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def page(url: str, on=client):
        def fetch():
            response = on.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return fetch

    wf = data.workflows[2].workflow_id
    deep = _deep_cursor(workspace)
    replayed = Run.objects.filter(workspace=workspace, replay_depth=1, status="completed").latest("created_at")
    source = replayed.replay_of
    for name, fetch in (
        ("scale: runs list, first page", page("/scale/ai/runs")),
        ("scale: runs list, ?status=failed", page("/scale/ai/runs?status=failed")),
        ("scale: runs list, workflow + replays only", page(f"/scale/ai/runs?workflow={wf}&lineage=replays")),
        ("scale: runs list, workflow + status=failed", page(f"/scale/ai/runs?workflow={wf}&status=failed")),
        ("scale: runs list, run id prefix", page("/scale/ai/runs?run_id_prefix=run_8f2")),
        ("scale: runs list, a page 90% back by cursor", page(f"/scale/ai/runs?cursor={deep}")),
        ("scale: monitoring list", page("/scale/monitoring/workflow-runs")),
        ("scale: monitoring list, ?status=failed", page("/scale/monitoring/workflow-runs?status=failed")),
        ("scale: trace of a replay", page(f"/scale/ai/runs/{replayed.run_id}")),
        ("scale: trace of a replayed run", page(f"/scale/ai/runs/{source.run_id}")),
        ("scale: API run list", page("/api/v1/scale/runs", api)),
        ("scale: API run list, ?status=failed&cursor=…", page(f"/api/v1/scale/runs?status=failed&cursor={deep}", api)),
    ):
        figures.add(name, repeat(fetch, SAMPLES), queries=count_queries(fetch), target_ms=50, target="median <= 50 ms")

    keys = iter(range(10**6))

    def submit():
        response = api.post(
            f"/api/v1/scale/runs/{replayed.run_id}/replays",
            data=json.dumps({"mode": "as_is"}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"scale-submit-{next(keys)}",  # the lookup by the unique constraint, every time
        )
        assert response.status_code == 201, response.content

    figures.add(
        "scale: replay submit (API, Idempotency-Key, depth 2)",
        repeat(submit, SAMPLES),
        queries=count_queries(submit),
        target_ms=10,
        target="median <= 10 ms",
    )
    _cohort_figures(figures, api, data.workflows[1])
    sweep = lambda: list(stale_runs(timezone.now()))  # noqa: E731
    figures.add(
        "scale: stale-run sweep query", repeat(sweep, SAMPLES), queries=1, target_ms=50, target="median <= 50 ms"
    )
    _plans(workspace, data)
    from config.celery import app

    app.control.purge()  # the submitted replays' tasks: no worker runs here
    # bench/prune.py's figure (issue 21: prune 100,000 runs) is measured here next, on the same history.
    return figures


def run_in_child(log) -> list:
    """Run this module in a child process (its own database settings) and return the figures it measured."""
    import subprocess

    from .figures import Figure

    log(f"Scale: {RUNS:,} runs in the database {SCALE_DB} (a child process)...")
    child = subprocess.run(
        [sys.executable, "-m", "bench.scale"], stdout=subprocess.PIPE, text=True, env={**os.environ}, check=False
    )
    figures = [Figure(**json.loads(line[len(MARK) :])) for line in child.stdout.splitlines() if line.startswith(MARK)]
    if child.returncode != 0:
        log(f"The scale section failed (exit {child.returncode}).")
    return figures


def main() -> int:
    if os.environ.get("BENCH_DB", "postgres") != "postgres":
        log("Skipped the scale section: it measures PostgreSQL, and BENCH_DB is not postgres.")
        return 0
    _setup()
    for figure in measure():
        print(MARK + json.dumps(asdict(figure)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
