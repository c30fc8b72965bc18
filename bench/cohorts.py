"""The cohorts figures (issue 31): preview and create of a 10,000-member cohort from a filter, the admission's
database time per member, and a finished 1,000-member cohort's page and API answer."""

import json
import os
import statistics
import time
from contextlib import ExitStack
from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from replay.cohorts.admission import tick
from replay.cohorts.models import Cohort, CohortMember, CohortStatus, Lane, MemberStatus
from replay.cohorts.verdict import keep_verdict
from runs import services
from runs.models import Membership, Role, Run, Step, Workspace

from .figures import Figure, repeat

MEMBERS = int(os.environ.get("BENCH_COHORT_MEMBERS", "10000"))
FINISHED = int(os.environ.get("BENCH_COHORT_FINISHED", "1000"))
SPEED_MEMBERS = int(os.environ.get("BENCH_COHORT_SPEED_MEMBERS", "1000"))
SPEED_TARGET_S = 60
ADMISSION_TICKS = int(os.environ.get("BENCH_COHORT_ADMISSION_TICKS", "5"))
STEPS = 5


def _chain(workspace, revision):
    nodes = [
        {
            "id": "c0",
            "type": "llm",
            "model": "anthropic:claude-opus-4-7",
            "after": [],
            "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash},
        }
    ]
    nodes += [{**nodes[0], "id": f"c{i}", "after": [f"c{i - 1}"]} for i in range(1, STEPS)]
    return services.create_workflow(workspace=workspace, name="Cohort bench", nodes=nodes)


def _runs(version, n, at, **fields) -> list[Run]:
    rows = [
        Run(
            workspace_id=version.workflow.workspace_id,
            workflow=version.workflow,
            version=version,
            version_number=version.number,
            trigger_payload={"name": f"N{i}"},
            status=Run.Status.COMPLETED,
            steps_total=STEPS,
            simulated=True,
            created_at=at - timedelta(seconds=i),
            started_at=at - timedelta(seconds=i),
            finished_at=at - timedelta(seconds=i) + timedelta(milliseconds=200 + i % 97),
            **fields,
        )
        for i in range(n)
    ]
    return Run.objects.bulk_create(rows, batch_size=2000)


def _steps(runs, text: str) -> None:
    rows = [
        Step(
            run=run,
            node_id=f"c{p}",
            type="llm",
            position=p,
            status=Step.Status.COMPLETED,
            output=f"{text} {p}",
            model_ref="anthropic:claude-opus-4-7",
            simulated=True,
            started_at=run.started_at,
            finished_at=run.finished_at,
            input_tokens=10,
            output_tokens=20,
            latency_ms=30,
        )
        for run in runs
        for p in range(STEPS)
    ]
    Step.objects.bulk_create(rows, batch_size=5000)


def preview_and_create(add, api, slug: str, body: dict, *, members: range, samples: int, label: str = "") -> None:
    """Issue 31's first figures: the preview and the create of a cohort from `body` (a filter selecting a count of
    runs in `members`), each <= 2 s; each created cohort is cancelled at once, so the next is not refused."""
    path, sent = f"/api/v1/{slug}/cohorts", json.dumps(body)

    def preview():
        response = api.post(f"{path}/preview", sent, content_type="application/json")
        assert response.status_code == 200 and response.json()["members"] in members, response.content[:300]

    def create():
        response = api.post(path, sent, content_type="application/json")
        assert response.status_code == 201, response.content[:300]
        Cohort.objects.filter(pk=response.json()["cohort_id"]).update(status=CohortStatus.CANCELLED)

    size = f"{members.stop - 1:,}"
    add(
        f"{label}cohort preview, {size} members from a filter",
        repeat(preview, samples, warmup=1),
        target_ms=2000,
        target="median <= 2 s",
    )
    with override_settings(COHORT_MAX_RUNNING=100):
        add(
            f"{label}cohort create, {size} members from a filter",
            repeat(create, samples, warmup=1),
            target_ms=2000,
            target="median <= 2 s",
        )


class CohortFigures:
    def cohorts(self) -> None:
        d = self.data
        version = _chain(d.workspace, d.revision)
        now = timezone.now()
        _runs(version, MEMBERS, now)
        body = {
            "name": "bench",
            "workflow_id": version.workflow.workflow_id,
            "filter": {
                "status": ["completed"],
                "from": (now - timedelta(days=1)).isoformat(),
                "to": (now + timedelta(minutes=1)).isoformat(),
            },
            "replay": {"mode": "as_is"},
            "canary": 0,
        }
        preview_and_create(self.add, self.api, d.workspace.slug, body, members=range(MEMBERS, MEMBERS + 1), samples=3)
        cohort = Cohort.objects.filter(workflow=version.workflow).order_by("-created_at").first()
        Cohort.objects.filter(pk=cohort.pk).update(status=CohortStatus.PENDING)
        samples, walls, queries, admitted = [], [], [], 0
        with override_settings(REPLAY_QUOTA_RATE="100000/m"):
            for _ in range(ADMISSION_TICKS):  # each tick admits up to ADMIT_PER_TICK members, ADMIT_BATCH a commit
                with CaptureQueriesContext(connection) as ctx:
                    began = time.perf_counter()
                    more = tick()
                    wall = time.perf_counter() - began
                if not more:
                    break
                admitted += more
                samples.append(sum(float(q["time"]) for q in ctx.captured_queries) / more)
                walls.append(wall / more * 1000)
                queries.append(len(ctx.captured_queries) / more)
        assert admitted, "nothing was admitted"
        self.add(
            f"cohort admission, database time per member ({admitted} admitted in {len(samples)} ticks)",
            samples,
            target_ms=10,
            target=f"<= 10 ms (wall {statistics.median(walls):.1f} ms, {statistics.median(queries):.1f} queries a member)",
        )
        Cohort.objects.filter(pk=cohort.pk).update(status=CohortStatus.CANCELLED)
        self.add_finished_cohort(version, now)

    def add_finished_cohort(self, version, now) -> None:
        d = self.data
        sources = _runs(version, FINISHED, now - timedelta(days=3))
        children = _runs(version, FINISHED, now - timedelta(days=2), mode="as_is", replay_depth=1)
        _steps(sources, "original")
        _steps(children, "replayed" if FINISHED else "")
        cohort = Cohort.objects.create(
            workspace=d.workspace,
            name="finished bench cohort",
            created_by=d.user,
            workflow=version.workflow,
            selection={"run_ids": []},
            change={"mode": "as_is"},
            checks=[{"kind": "max_length", "node": "c4", "value": 1000}],
            status=CohortStatus.COMPLETED,
            finished_at=now,
        )
        CohortMember.objects.bulk_create(
            [
                CohortMember(
                    cohort=cohort,
                    source_run=s,
                    child_run=c,
                    lane=Lane.CANDIDATE,
                    position=i,
                    status=MemberStatus.COMPLETED,
                )
                for i, (s, c) in enumerate(zip(sources, children, strict=True))
            ],
            batch_size=2000,
        )
        began = time.perf_counter()
        keep_verdict(cohort)  # what the tick does once when the last member ends
        self.add(f"cohort verdict kept at finish, {FINISHED:,} members of {STEPS} steps", [time.perf_counter() - began])
        page = self.get_ok(f"/{d.workspace.slug}/ai/cohorts/{cohort.pk}")
        self.add(
            f"cohort page, {FINISHED:,} finished members of {STEPS} steps",
            repeat(page, 5, warmup=1),
            queries=count(page),
            target_ms=150,
            max_queries=25,
            target="median <= 150 ms, bounded queries",
        )

        def detail():
            response = self.api.get(f"/api/v1/{d.workspace.slug}/cohorts/{cohort.pk}")
            assert response.status_code == 200

        self.add(
            f"GET cohort, {FINISHED:,} finished members of {STEPS} steps",
            repeat(detail, 5, warmup=1),
            queries=count(detail),
            target_ms=150,
            max_queries=15,
            target="median <= 150 ms, bounded queries",
        )


def count(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def _two_calls_of_five(workspace, revision):
    """5 steps, 2 of them model calls: llm, records.lookup, llm, records.lookup, records.lookup."""
    prompt = {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash}
    lookup = {"type": "tool", "tool": "records.lookup", "args": {"kind": "customer", "key": "{{ trigger.name }}"}}
    nodes = [
        {"id": "m0", "type": "llm", "model": "anthropic:claude-opus-4-7", "after": [], "prompt": prompt},
        {"id": "t1", **lookup, "after": ["m0"]},
        {"id": "m2", "type": "llm", "model": "anthropic:claude-opus-4-7", "after": ["t1"], "prompt": prompt},
        {"id": "t3", **lookup, "after": ["m2"]},
        {"id": "t4", **lookup, "after": ["t3"]},
    ]
    return services.create_workflow(workspace=workspace, name="Cohort speed", nodes=nodes)


class CohortSpeed:
    def cohort_speed(self, *, processes: int, concurrency: int) -> None:
        """Issue 31's speed figure (opt-in: `make bench FIGURES=cohort_speed`): a cohort of SPEED_MEMBERS 5-step
        runs with 2 model calls each, 1 s a call at a local server, the quota raised; seconds from create to
        completed, admission by beat's tick included."""
        from tests.worker import celery_worker

        from . import slow_calls

        d = self.data
        workspace = Workspace.objects.create(account=d.workspace.account, slug="cohort-speed", name="Cohort speed")
        Membership.objects.create(user=d.user, workspace=workspace, role=Role.OPERATOR)
        revision = services.create_prompt(workspace=workspace, name="speed", content="Answer {{ trigger.name }}")
        version = _two_calls_of_five(workspace, revision)
        _runs(version, SPEED_MEMBERS, timezone.now())
        body = {
            "name": "speed",
            "workflow_id": version.workflow.workflow_id,
            "run_ids": list(Run.objects.filter(workflow=version.workflow).values_list("run_id", flat=True)),
            "replay": {"mode": "as_is"},
            "baseline_percent": 0,
            "canary": 0,
        }
        with slow_calls.provider_server() as server:
            env = {**slow_calls.worker_env(server, concurrency), "REPLAY_QUOTA_RATE": "100000/m"}
            self.log(f"Starting {processes} Celery workers of {concurrency} threads (beat in the first), 1 s a call...")
            with ExitStack() as workers:
                for n in range(processes):
                    workers.enter_context(celery_worker(env=env, concurrency=concurrency, beat=n == 0))
                with override_settings(REPLAY_QUOTA_RATE="100000/m"):
                    began = time.perf_counter()
                    response = self.api.post(
                        f"/api/v1/{workspace.slug}/cohorts", json.dumps(body), content_type="application/json"
                    )
                    assert response.status_code == 201, response.content[:300]
                    cohort_id = response.json()["cohort_id"]
                    deadline = began + 10 * SPEED_TARGET_S
                    while time.perf_counter() < deadline:
                        if Cohort.objects.filter(pk=cohort_id, status=CohortStatus.COMPLETED).exists():
                            break
                        time.sleep(0.2)
                    elapsed = time.perf_counter() - began
        counts = dict(CohortMember.objects.filter(cohort_id=cohort_id).values_list("status").annotate(n=Count("pk")))
        self.log(f"  cohort of {SPEED_MEMBERS:,}: {elapsed:.1f} s, members {counts}")
        self.figures.append(
            Figure(
                f"cohort of {SPEED_MEMBERS:,} 5-step runs, 2 model calls each of 1 s, create to completed,"
                f" {processes} x {concurrency} threads",
                f"{elapsed:.1f} s",
                "",
                "",
                f"<= {SPEED_TARGET_S} s, every member completed",
                elapsed <= SPEED_TARGET_S and counts == {MemberStatus.COMPLETED: SPEED_MEMBERS},
            )
        )
