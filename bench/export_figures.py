"""The export figures (issue 34): a 1,000-step run's OTLP trace, and the JSONL export of runs of 3 steps each."""

import os
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.test import Client
from django.utils import timezone

from runs.models import Role, Run, Step, ToolCall, Workflow, Workspace

from .data import MODEL, BenchData
from .figures import Figure, repeat

# Runs in the JSONL export figures, 3 steps each: the rate is measured on a tenth of them (and once on all), the
# memory figure compares the export of a tenth with the export of all (the issue: 10,000 -> 100,000).
EXPORT_RUNS = int(os.environ.get("BENCH_EXPORT_RUNS", "100000"))


def thousand_step_record():
    """A finished 1,000-step run as the executor records one, in memory: 900 LLM steps with usage, cost and
    options, 100 tool steps with their calls; the trace is built from it alone (no database)."""
    from runs.otlp import RunRecord

    workspace = Workspace(slug="bench", name="Bench")
    workflow = Workflow(workflow_id="wf_00be0c01", name="Big 1k", workspace=workspace)
    start = timezone.now() - timedelta(hours=1)
    run = Run(
        run_id="run_00be0c0100000000000000000000000a",
        workspace=workspace,
        workflow=workflow,
        version_number=1,
        status=Run.Status.COMPLETED,
        started_at=start,
        finished_at=start + timedelta(seconds=40),
        simulated=True,
    )
    steps, calls = [], {}
    for position in range(1000):
        began = start + timedelta(milliseconds=40 * position)
        common = {
            "run": run,
            "pk": position + 1,
            "node_id": f"a{position}",
            "position": position,
            "started_at": began,
            # What the database fills in (db_default) is set here: the record never saw the database.
            "reused_from_run_id": "",
            "reused_from_node_id": "",
            "prompt_artifact_id": "",
        }
        if position % 10 == 9:
            step = Step(
                type="tool", status="completed", input={"arguments": {"key": "Dana"}}, finish_reason="", **common
            )
            calls[step.pk] = ToolCall(
                step=step,
                tool="records.lookup",
                mutating=False,
                arguments={"key": "Dana"},
                result={"found": True},
                reused=False,
                source=ToolCall.Source.LIVE,
                recorded_in_run_id="",
            )
        else:
            step = Step(
                type="llm",
                status="completed",
                input={
                    "prompt": f"Summarise the ticket from Dana ({position}).",
                    "max_tokens": 1024,
                    "temperature": 0.2,
                },
                output="A plausible paragraph of model output. " * 8,
                model_ref=MODEL,
                prompt_hash="sha256:" + "a" * 64,
                simulated=True,
                input_tokens=412,
                output_tokens=96,
                cache_read_tokens=0,
                cache_write_tokens=0,
                cost_usd=Decimal("0.013380000000"),
                price_version="0.2.3",
                latency_ms=31,
                finish_reason="end_turn",
                **common,
            )
        step.finished_at = began + timedelta(milliseconds=35)
        steps.append(step)
    return RunRecord(run, steps, calls)


def three_step_runs(workspace: Workspace, workflow: Workflow, count: int) -> datetime:
    """`count` completed runs of 3 steps each (two LLM steps, a tool step and its call), written in bulk, a second
    apart from the returned time on."""
    start = timezone.now() - timedelta(days=1)
    version = workflow.versions.get()
    for first in range(0, count, 1000):
        runs = [
            Run(
                workspace=workspace,
                workflow=workflow,
                version=version,
                version_number=1,
                trigger_payload={"name": "Dana", "ticket": i},
                status=Run.Status.COMPLETED,
                steps_total=3,
                steps_completed=3,
                created_at=start + timedelta(seconds=i),
                started_at=start + timedelta(seconds=i),
                finished_at=start + timedelta(seconds=i, milliseconds=120),
                simulated=True,
            )
            for i in range(first, min(first + 1000, count))
        ]
        Run.objects.bulk_create(runs)
        steps = []
        for run in runs:
            for position, node_id in enumerate(("classify", "draft", "lookup")):
                llm = node_id != "lookup"
                steps.append(
                    Step(
                        run=run,
                        node_id=node_id,
                        type="llm" if llm else "tool",
                        position=position,
                        status="completed",
                        input={"prompt": f"{node_id} the ticket from Dana.", "max_tokens": 1024}
                        if llm
                        else {"arguments": {"key": "Dana"}},
                        output="A plausible paragraph of model output. " * 4 if llm else '{"found": true}',
                        model_ref=MODEL if llm else "",
                        simulated=llm,
                        input_tokens=120 if llm else None,
                        output_tokens=48 if llm else None,
                        cost_usd=Decimal("0.0042") if llm else None,
                        started_at=run.started_at,
                        finished_at=run.finished_at,
                    )
                )
        Step.objects.bulk_create(steps)
        ToolCall.objects.bulk_create(
            ToolCall(step=s, tool="records.lookup", mutating=False, arguments={"key": "Dana"}, result={"found": True})
            for s in steps
            if s.type == "tool"
        )
    return start


class ExportFigures:
    """Bench's export section; `Bench` sets the attributes and `add`."""

    data: BenchData
    log: Callable[[str], None]
    figures: list[Figure]
    api: Client
    add: Callable[..., None]

    def otlp_trace(self) -> None:
        """The trace built (runs.otlp.build_trace, the issue's target), then encoded by the SDK's OTLP encoder as
        the push sends it, and written as the download's OTLP/JSON: the last two are the SDK's and protobuf's."""
        from runs.otlp import build_trace, encode, otlp_json

        record = thousand_step_record()
        self.add(
            "OTLP trace of a 1,000-step run: spans built",
            repeat(lambda: build_trace(record), 30),
            target_ms=50,
            target="median <= 50 ms",
        )
        spans = build_trace(record)
        self.add("  + encoded as the OTLP request (SDK encoder)", repeat(lambda: encode(spans), 15), target="(none)")
        request = encode(spans)
        self.add("  + written as OTLP/JSON (json_format)", repeat(lambda: otlp_json(request), 10), target="(none)")

    def jsonl_export(self) -> None:
        exporting = Workspace.objects.create(account=self.data.workspace.account, slug="bench-export", name="Export")
        exporting.memberships.create(user=self.data.user, role=Role.VIEWER)
        workflow = Workflow.objects.create(workspace=exporting, name="Three steps", workflow_id="wf_00e0e0e3")
        workflow.versions.create(number=1)
        small = EXPORT_RUNS // 10
        began = time.perf_counter()
        start = three_step_runs(exporting, workflow, EXPORT_RUNS)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have after such a write: the planner's statistics
        self.log(f"    wrote {EXPORT_RUNS:,} runs of 3 steps in {time.perf_counter() - began:.1f} s")
        url = "/api/v1/bench-export/runs/export.jsonl"

        def export(query: dict) -> int:
            response = self.api.get(url, query)
            assert response.status_code == 200, response.status_code
            return sum(chunk.count(b"\n") for chunk in response.streaming_content)

        tenth = {"to": (start + timedelta(seconds=small)).isoformat()}  # the oldest tenth
        assert export(tenth) == small
        samples = repeat(lambda: export(tenth), 3, warmup=1)
        runs_per_second = [small / s for s in samples]
        median = sorted(runs_per_second)[1]
        self.figures.append(
            Figure(
                f"JSONL export, {small:,} runs of 3 steps",
                f"{median:,.0f} runs/s",
                f"{min(runs_per_second):,.0f} runs/s",
                "",
                ">= 5,000 runs/s",
                median >= 5000,
            )
        )
        cpu, began = time.process_time(), time.perf_counter()
        assert export({}) == EXPORT_RUNS
        cpu, seconds = time.process_time() - cpu, time.perf_counter() - began
        self.figures.append(
            Figure(
                f"JSONL export, all {EXPORT_RUNS:,} runs (one request)",
                f"{EXPORT_RUNS / seconds:,.0f} runs/s",
                f"{seconds:.1f} s",
                "",
                "streams to the end",
                True,
            )
        )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        self.log(
            f"  JSONL export: median {median:,.0f} runs/s for {small:,} runs, {EXPORT_RUNS / seconds:,.0f} runs/s for "
            f"{EXPORT_RUNS:,} ({connection.vendor}); this process's own CPU time alone would allow "
            f"{EXPORT_RUNS / cpu:,.0f} runs/s (the rest is the database and other processes; load average {load} "
            f"on {os.cpu_count()} cores)"
        )

        def peak(query: dict) -> float:
            tracemalloc.start()
            try:
                export(query)
                return tracemalloc.get_traced_memory()[1] / 1e6
            finally:
                tracemalloc.stop()

        few, many = peak(tenth), peak({})
        self.figures.append(
            Figure(
                f"JSONL export memory, {small:,} -> {EXPORT_RUNS:,} runs",
                f"+{many - few:.1f} MB",
                f"{few:.1f} -> {many:.1f} MB peak",
                "",
                "<= +20 MB",
                many - few <= 20,
            )
        )
        self.log(f"  JSONL export memory: peak {few:.1f} MB for {small:,} runs, {many:.1f} MB for {EXPORT_RUNS:,}")
