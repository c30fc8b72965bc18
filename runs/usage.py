"""A run's usage and cost: the sums of its LLM steps, read in one query for any number of runs."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import Any, cast

from django.db.models import Count, Q, QuerySet, Sum

from .lookups import any_of
from .models import Step
from .prepared import Compiled, hot_cursor


def decimal_string(value: Decimal | None) -> str | None:
    """A cost as the API writes it: the exact decimal, without trailing zeros or an exponent."""
    if value is None:
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class RunUsage:
    tokens: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(Step.USAGE_FIELDS))
    cost_usd: Decimal | None = Decimal(0)  # None when an LLM step's cost is unknown
    llm_steps: int = 0
    simulated: bool = False  # some of the usage and cost come from the simulator

    @property
    def cost_complete(self) -> bool:
        return self.cost_usd is not None

    def as_api(self) -> dict:
        return {
            "usage": dict(self.tokens),
            "cost_usd": decimal_string(self.cost_usd),
            "cost_complete": self.cost_complete,
        }


def _sums(steps: QuerySet[Step]) -> QuerySet:
    """Each run's sums over `steps`: the rule of what counts, and of when a cost is unknown.

    A step counts once it has finished: a completed LLM step without a cost makes the run's cost unknown,
    a failed call (nothing billed, no usage) does not.
    """
    return (
        steps.filter(type="llm")
        .values("run_id")
        .annotate(
            **{f"sum_{name}": Sum(name) for name in Step.USAGE_FIELDS},
            cost=Sum("cost_usd"),
            steps=Count("id"),
            unpriced=Count(
                "id",
                filter=Q(cost_usd__isnull=True) & (Q(status=Step.Status.COMPLETED) | Q(input_tokens__isnull=False)),
            ),
            # A reused step's flag is its source run's: this run called no simulator for it.
            simulated_steps=Count("id", filter=Q(simulated=True, reused_from_run_id="")),
        )
        .order_by()
    )


def _usage(row: dict[str, Any]) -> RunUsage:
    """A row of _sums as a run's usage; a run without LLM steps has no row, and costs 0 (nothing was called)."""
    return RunUsage(
        tokens={name: row[f"sum_{name}"] for name in Step.USAGE_FIELDS},
        cost_usd=None if row["unpriced"] else (row["cost"] or Decimal(0)),
        llm_steps=row["steps"],
        simulated=row["simulated_steps"] > 0,
    )


def usage_of_runs(run_ids) -> dict[str, RunUsage]:
    """Each run's sums, one query for any number of runs; a run without LLM steps is left out (RunUsage())."""
    rows = cast(
        Iterable[dict[str, Any]],  # the sums' names are built from USAGE_FIELDS, which the stubs cannot follow
        _sums(Step.objects.filter(any_of("run_id", run_ids))),
    )
    return {row["run_id"]: _usage(row) for row in rows}


# One run's sums, compiled once: what a run's detail reads on every poll, alone or inside its own statement.
ONE_RUN = Compiled(lambda run_id: _sums(Step.objects.filter(run_id=run_id)))


def usage_of_run(run_id: str) -> RunUsage:
    sql, params = ONE_RUN.statement(run_id)
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return usage_of_row(row)


def usage_of_row(row) -> RunUsage:
    """A run's usage from ONE_RUN's columns, read alone or as a caller's outer join (all null: no LLM step)."""
    if row is None:
        return RunUsage()
    values = ONE_RUN.row(row)
    return RunUsage() if values["run_id"] is None else _usage(values)


_usage_of = attrgetter(*Step.USAGE_FIELDS)


def step_usage_api(step: Step) -> dict:
    """An LLM step's usage fields in the API; a tool step has none (all null)."""
    return {
        "usage": dict(zip(Step.USAGE_FIELDS, _usage_of(step), strict=True)) if step.type == "llm" else None,
        "raw_usage": step.raw_usage,
        "cost_usd": decimal_string(step.cost_usd),
        "price_version": step.price_version or None,
        "latency_ms": step.latency_ms,
    }
