"""Reading cohorts: counts, keyset pages of cohorts and members, the export's rows. A bounded number of queries
whatever the number of members."""

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import Q
from pydantic import BeforeValidator, Field

from runs.http.errors import BadRequest
from runs.http.input import QueryInput, invalid
from runs.integers import ascii_int
from runs.models import Workspace

from .admission import counts_of
from .models import Cohort, Lane, MemberStatus
from .verdict import current_verdict

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EXPORT_CHUNK = 1000


def _limit(value: Any) -> int:
    number = ascii_int(value, low=1, high=MAX_PAGE_SIZE)
    if number is None:
        raise invalid(f"{{field}} must be a number from 1 to {MAX_PAGE_SIZE}.")
    return number


Limit = Annotated[int, BeforeValidator(_limit, json_schema_input_type=Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)])]


class CohortListQuery(QueryInput):
    cursor: str | None = Field(default=None, description="A page's `next`: the page after it.")
    limit: Limit = PAGE_SIZE


class MemberQuery(QueryInput):
    cursor: str | None = Field(default=None, description="A page's `next`: the page after it.")
    limit: Limit = PAGE_SIZE
    lane: Literal[tuple(Lane.values)] | None = Field(default=None, description="One lane only.")  # type: ignore[valid-type]
    status: Literal[tuple(MemberStatus.values)] | None = Field(default=None, description="One status only.")  # type: ignore[valid-type]


def counts(by_status: dict[str, int]) -> dict[str, int]:
    values = {status: by_status.get(status, 0) for status in MemberStatus.values}
    return {"total": sum(values.values()), **values}


def summary(cohort: Cohort, found: dict) -> dict:
    return {
        "cohort_id": cohort.cohort_id,
        "name": cohort.name,
        "status": cohort.status,
        "workflow_id": cohort.workflow.workflow_id,
        "created_by": cohort.created_by.username if cohort.created_by else None,
        "created_at": cohort.created_at,
        "finished_at": cohort.finished_at,
        "counts": counts(found.get((cohort.pk, Lane.CANDIDATE), {})),
    }


def cohort_dict(cohort: Cohort, verdict: dict | None = None) -> dict:
    """A cohort with its counts and verdict: the detail's answer and page (`verdict` when the caller computed it)."""
    found = counts_of([cohort.pk])
    return {
        **summary(cohort, found),
        "stop_reason": cohort.stop_reason,
        "selection": cohort.selection,
        "change": cohort.change,
        "baseline_percent": cohort.baseline_percent,
        "canary": cohort.canary,
        "checks": cohort.checks,
        "baseline_counts": counts(found.get((cohort.pk, Lane.BASELINE), {})),
        "verdict": current_verdict(cohort) if verdict is None else verdict,
    }


def _encode(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        if len(parts) != count:
            raise ValueError
        return parts
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(
            "cursor is not one this list gave (a page's next): start again from the first page.", field="cursor"
        ) from None


def page_of_cohorts(workspace: Workspace, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """A keyset page of the workspace's cohorts, newest first, with their counts: two queries."""
    rows = Cohort.objects.filter(workspace=workspace).select_related("workflow", "created_by")
    if cursor:
        at, cohort_id = _decode(cursor, 2)
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise BadRequest("cursor is not one this list gave (a page's next).", field="cursor") from None
        rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, cohort_id__lt=cohort_id))
    page = list(rows.order_by("-created_at", "-cohort_id")[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    found = counts_of([c.pk for c in page])
    last = page[-1] if page else None
    return [summary(c, found) for c in page], _encode(last.created_at.isoformat(), last.pk) if more and last else None


def _members(cohort: Cohort, lane: str | None = None, status: str | None = None):
    rows = cohort.members.all()
    if lane:
        rows = rows.filter(lane=lane)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("id").values_list("id", *MEMBER_FIELDS_DB)


MEMBER_FIELDS_DB = (
    "source_run_id",
    "child_run_id",
    "lane",
    "status",
    "reason_code",
    "reason_message",
    "changed",
    "regression",
)


def member_dict(values: tuple, judged: bool) -> dict:
    """A member as the API and the downloads give it; `judged`: the cohort's verdict is kept, with each member's
    changed and regression flags (null before, and for a member whose replay did not finish)."""
    source, child, lane, status, code, message, changed, regression = values
    flagged = judged and changed is not None
    return {
        "source_run_id": source,
        "run_id": child,
        "lane": lane,
        "status": status,
        "reason": {"code": code, "message": message} if code else None,
        "changed": changed if flagged else None,
        "regression": regression if flagged else None,
    }


def page_of_members(cohort: Cohort, query: MemberQuery) -> tuple[list[dict], str | None]:
    rows = _members(cohort, query.lane, query.status)
    if query.cursor:
        after = ascii_int(_decode(query.cursor, 1)[0], low=0, high=2**63 - 1)
        if after is None:
            raise BadRequest("cursor is not one this list gave (a page's next).", field="cursor")
        rows = rows.filter(id__gt=after)
    page = list(rows[: query.limit + 1])
    more, page = len(page) > query.limit, page[: query.limit]
    judged = cohort.verdict is not None
    return [member_dict(v[1:], judged) for v in page], _encode(str(page[-1][0])) if more and page else None


def member_rows(cohort: Cohort) -> Iterator[dict]:
    """Every member in order, a keyset chunk at a time: memory stays one chunk however large the cohort."""
    after, judged = 0, cohort.verdict is not None
    while True:
        chunk = list(_members(cohort).filter(id__gt=after)[:EXPORT_CHUNK])
        for values in chunk:
            yield member_dict(values[1:], judged)
        if len(chunk) < EXPORT_CHUNK:
            return
        after = chunk[-1][0]


def jsonl_lines(cohort: Cohort) -> Iterator[str]:
    for row in member_rows(cohort):
        yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


CSV_COLUMNS = ("source_run_id", "run_id", "lane", "status", "reason_code", "reason_message", "changed", "regression")
FLAG_CELLS = {True: "true", False: "false", None: ""}


def csv_lines(cohort: Cohort) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for row in member_rows(cohort):
        reason = row["reason"] or {}
        yield line(
            (
                row["source_run_id"],
                row["run_id"] or "",
                row["lane"],
                row["status"],
                reason.get("code", ""),
                reason.get("message", ""),
                FLAG_CELLS[row["changed"]],
                FLAG_CELLS[row["regression"]],
            )
        )
