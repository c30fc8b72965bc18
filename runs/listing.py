"""Pages of a workspace's runs, newest first: the one selector of the runs list, the monitoring list and the API.

A page is a keyset range of `(created_at, run_id)`, read from an index of Run.Meta in `limit + 1` rows
whatever the history's size: no OFFSET, no COUNT(*) and no aggregate over the workspace's runs.
"""

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from pydantic import BeforeValidator, Field, model_validator

from .http.errors import BadRequest
from .http.input import A_MOMENT, QueryInput, invalid
from .integers import ascii_int
from .models import (
    PROMPT_ID_RE,
    RUN_ID_RE,
    WORKFLOW_ID_RE,
    PromptArtifact,
    PromptRevision,
    Run,
    RunStatus,
    Workflow,
    WorkflowVersion,
    Workspace,
)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
RUN_ID_PREFIX_RE = r"^(run_)?[0-9a-fA-F]{0,32}$"


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 time; one without an offset (a form's datetime-local) is in the site's time zone (UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(A_MOMENT) from None
    if not isinstance(value, datetime):
        raise invalid(A_MOMENT)
    aware = timezone.make_aware(value) if timezone.is_naive(value) else value
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 and Python allow (up to ±23:59).
        return aware.astimezone(UTC)
    except OverflowError:
        raise invalid("{field} is out of range: choose a time between the years 1 and 9999.") from None


def _run_id_prefix(value: Any) -> Any:
    """`run_8f2c`, or its hex alone (`8f2c`), in either case. Just `run_` filters nothing."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(RUN_ID_PREFIX_RE, value):
        raise invalid("{field} must be the start of a run id: run_ followed by hex digits, e.g. run_8f2c.")
    value = value.lower()
    return None if value in ("", "run_") else value if value.startswith("run_") else "run_" + value


def _workflow_id(value: Any) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(WORKFLOW_ID_RE, value):
        raise invalid("{field} must be a workflow id: wf_ followed by 8 hex digits.")
    return value


def _limit(value: Any) -> int:
    number = ascii_int(value, low=1, high=MAX_PAGE_SIZE)
    if number is None:
        raise invalid(f"{{field}} must be a number of rows from 1 to {MAX_PAGE_SIZE}.")
    return number


def _one_of(values: tuple[str, ...]):
    def check(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if value not in values:
            raise invalid("{field} must be one of: " + ", ".join(values) + ".")
        return value

    return check


def _declared(check, described) -> BeforeValidator:
    """A field checked by `check` alone (the forms send more than JSON would), described to clients as `described`."""
    return BeforeValidator(check, json_schema_input_type=described)


STATUSES = tuple(RunStatus.values)
LINEAGES = ("replays", "originals")
Moment = Annotated[datetime | None, _declared(_moment, datetime | None)]


class RunFilters(QueryInput):
    """What a list of runs may be narrowed to; every filter is served by an index of Run.Meta.indexes."""

    from_: Moment = Field(
        default=None, alias="from", description="Runs created at or after this time (ISO 8601; no offset = UTC)."
    )
    to: Moment = Field(default=None, description="Runs created before this time (ISO 8601; no offset = UTC).")
    status: Annotated[str | None, _declared(_one_of(STATUSES), Literal[STATUSES] | None)] = None
    workflow: Annotated[str | None, _declared(_workflow_id, Annotated[str, Field(pattern=WORKFLOW_ID_RE)] | None)] = (
        Field(default=None, description="A workflow id: only its runs.")
    )
    lineage: Annotated[str | None, _declared(_one_of(LINEAGES), Literal[LINEAGES] | None)] = Field(
        default=None, description="`replays`: replays only; `originals`: runs that are not replays."
    )
    run_id_prefix: Annotated[
        str | None, _declared(_run_id_prefix, Annotated[str, Field(pattern=RUN_ID_PREFIX_RE)] | None)
    ] = Field(default=None, description="Runs whose id starts with this, e.g. `run_8f2c` (or `8f2c`).")

    @model_validator(mode="after")
    def _range(self):
        if self.from_ and self.to and self.from_ >= self.to:
            raise invalid("{field} must be later than from.", field="to")
        return self

    def is_set(self) -> bool:
        """Whether any filter narrows the list."""
        return any(getattr(self, name) is not None for name in type(self).model_fields)

    def as_query(self) -> dict[str, str]:
        """The filters as GET parameters, as a form sends them: kept in every page link."""
        values = self.model_dump(by_alias=True, exclude_none=True)
        return {
            k: (timezone.localtime(v).strftime("%Y-%m-%dT%H:%M:%S") if isinstance(v, datetime) else str(v))
            for k, v in values.items()
        }


class PageQuery(QueryInput):
    """A keyset page of a list that grows: a cursor from an earlier page and the page's size."""

    cursor: str | None = Field(default=None, description="A page's `next` (or `prev`): the page after it.")
    limit: Annotated[int, _declared(_limit, Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)])] = Field(
        default=PAGE_SIZE, description="Rows per page."
    )


class RunListQuery(RunFilters, PageQuery):
    """GET /api/v1/<slug>/runs: the filters, a cursor from an earlier page and the page's size."""


EXPORT_FORMATS = ("runs", "chat")


class RunExportQuery(RunFilters):
    """GET /api/v1/<slug>/runs/export.jsonl: the lists' filters, and what each line is."""

    format: Annotated[str | None, _declared(_one_of(EXPORT_FORMATS), Literal[EXPORT_FORMATS] | None)] = Field(
        default=None,
        description="`runs` (the default): a line per run, with its steps and tool calls. `chat`: a line per "
        "completed LLM step, in the OpenAI chat shape (messages, model, usage).",
    )


@dataclass(frozen=True)
class Position:
    """Where a page starts: after (older than) or before (newer than) the row at `created_at`, `key` (its id)."""

    created_at: datetime
    key: str
    older: bool


def encode_cursor(position: Position) -> str:
    raw = f"{'o' if position.older else 'n'}{position.created_at.isoformat()}|{position.key}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key_re: str = RUN_ID_RE) -> Position:
    """The position a cursor of encode_cursor names (its key matching `key_re`); any other is a 400 naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, rest = raw[0], raw[1:]
        at, key = rest.split("|")
        created_at = datetime.fromisoformat(at)
        if direction not in "on" or timezone.is_naive(created_at) or not re.fullmatch(key_re, key):
            raise ValueError
        # In UTC, as the cursors this list gives are: a time a crafted one puts past year 1 or 9999 there
        # (0001-01-01T00:00+01:00) overflows here, not in the database's adapter.
        created_at = created_at.astimezone(UTC)
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise BadRequest(
            "cursor is not one this list gave (a page's next or prev): start again from the first page.",
            field="cursor",
        ) from None
    return Position(created_at, key, older=direction == "o")


def keyset_range(rows: QuerySet, key: str, position: Position | None, limit: int) -> QuerySet:
    """`limit + 1` rows of `rows` from `position` in `(created_at, key)` order, newest first unless paging newer:
    a range of an index of (…, created_at, key), whatever the table's size."""
    if position is None or position.older:
        order = ("-created_at", f"-{key}")
        if position is not None:  # (created_at, key) < the position's, with created_at as the index range
            at = position.created_at
            rows = rows.filter(Q(created_at__lt=at) | Q(**{f"{key}__lt": position.key}), created_at__lte=at)
    else:
        order = ("created_at", key)
        at = position.created_at
        rows = rows.filter(Q(created_at__gt=at) | Q(**{f"{key}__gt": position.key}), created_at__gte=at)
    return rows.order_by(*order)[: limit + 1]


@dataclass(frozen=True)
class Page[T]:
    rows: list[T]
    next: str | None  # older rows
    prev: str | None  # newer rows


def keyset_page[T](
    read: Callable[[Position | None], Iterable[T]], key: str, cursor: str | None, limit: int, key_re: str
) -> Page[T]:
    """A page of rows newest first, with the cursors of the pages beside it (None at either end).

    `read(position)` is the one query: keyset_range of the caller's rows. Paging newer past the newest rows
    answers the first page, full even if rows were deleted since.
    """
    position = decode_cursor(cursor, key_re) if cursor else None
    rows = list(read(position))
    more = len(rows) > limit
    rows = rows[:limit]
    if position is not None and not position.older:
        if not more:
            return keyset_page(read, key, None, limit, key_re)
        rows.reverse()
    newest, oldest = (rows[0], rows[-1]) if rows else (None, None)
    has_older = more if position is None or position.older else True
    has_newer = position is not None

    def at(row, older: bool) -> str:
        return encode_cursor(Position(row.created_at, getattr(row, key), older=older))

    return Page(
        rows,
        next=at(oldest, True) if oldest and has_older else None,
        prev=at(newest, False) if newest and has_newer else None,
    )


def runs_matching(workspace: Workspace, filters: RunFilters) -> QuerySet[Run]:
    """The workspace's runs the filters allow, unordered and unsliced."""
    runs = Run.objects.filter(workspace=workspace)
    if filters.from_ is not None:
        runs = runs.filter(created_at__gte=filters.from_)
    if filters.to is not None:
        runs = runs.filter(created_at__lt=filters.to)
    if filters.status is not None:
        runs = runs.filter(status=filters.status)
    if filters.workflow is not None:
        # The workflow's key as a scalar subquery (an InitPlan): the index of (workspace, workflow, created_at)
        # then serves the order, which a join would lose.
        wanted = Workflow.objects.filter(workspace=workspace, workflow_id=filters.workflow).values("pk")[:1]
        runs = runs.filter(workflow_id=Subquery(wanted))
    if filters.lineage == "replays":
        runs = runs.filter(replay_depth__gt=0)
    elif filters.lineage == "originals":
        runs = runs.filter(replay_depth=0)
    if filters.run_id_prefix is not None:
        runs = runs.filter(run_id__startswith=filters.run_id_prefix)
    return runs


# No list shows them, and a replay's plan holds an entry per node: never read for a page of runs.
NOT_LISTED = ("replay_plan",)
# Nor does a page of HTML show these (the API's runs do). A replay's overrides are read: what it kept from its source
# is one of its choices (Run.replay_choices).
NOT_ON_PAGES = ("trigger_payload", "node_mapping", "error", "lease")


def page_query(
    workspace: Workspace, filters: RunFilters, position: Position | None, limit: int, defer: tuple[str, ...] = ()
) -> QuerySet[Run]:
    """The one query of a page: `limit + 1` rows from `position`, in index order (newest first unless paging newer)."""
    runs = runs_matching(workspace, filters).select_related("workflow").defer(*NOT_LISTED, *defer)
    return keyset_range(runs, "run_id", position, limit)


RunPage = Page[Run]


def page_of_runs(
    workspace: Workspace,
    filters: RunFilters,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    defer: tuple[str, ...] = (),
) -> RunPage:
    """A page of the workspace's runs, newest first, with the cursors of the pages beside it (None at either end).

    `defer`: columns the caller will not read (e.g. NOT_ON_PAGES), left in the database.
    """

    def read(position: Position | None) -> list[Run]:
        rows = list(page_query(workspace, filters, position, limit, defer))
        for row in rows:
            row.workspace = workspace  # every row's, read once
        return rows

    return keyset_page(read, "run_id", cursor, limit, RUN_ID_RE)


def runs_in_pages(
    workspace: Workspace,
    filters: RunFilters,
    size: int = MAX_PAGE_SIZE,
    defer: tuple[str, ...] = (),
    columns: tuple[Any, ...] = (),
    read: Callable[[QuerySet], list] = list,
) -> Iterator[list]:
    """Every run the filters allow, newest first, a keyset page of `size` at a time: memory stays one page
    however many runs match (an export of the whole history).

    `columns`: each run as a tuple of these values (values_list), the first two `created_at` and `run_id`, not as a
    model instance (an export reads a hundred thousand runs), read by `read` (the export's one fetch).
    """
    if columns and tuple(columns[:2]) != ("created_at", "run_id"):
        raise ValueError("columns must start with created_at and run_id: they are the page's keyset position")
    position = None
    while True:
        query = page_query(workspace, filters, position, size, defer)
        rows: list[Any] = read(query.values_list(*columns)) if columns else list(query)
        page = rows[:size]
        if not columns:
            for row in page:
                row.workspace = workspace
        if page:
            yield page
        if len(rows) <= size:
            return
        last = page[-1]
        at, run_id = last[:2] if columns else (last.created_at, last.run_id)
        position = Position(at, run_id, older=True)


def page_of_workflows(workspace: Workspace, cursor: str | None, limit: int) -> Page[Workflow]:
    """A page of the workspace's workflows, newest first, each with its versions (two queries)."""
    versions = Prefetch(
        "versions", queryset=WorkflowVersion.objects.order_by("number").only("workflow_id", "number", "created_at")
    )
    workflows = Workflow.objects.filter(workspace=workspace).prefetch_related(versions)
    return keyset_page(
        lambda position: keyset_range(workflows, "workflow_id", position, limit),
        "workflow_id",
        cursor,
        limit,
        WORKFLOW_ID_RE,
    )


def page_of_prompts(workspace: Workspace, cursor: str | None, limit: int) -> Page[PromptArtifact]:
    """A page of the workspace's prompt artifacts, newest first, each with its newest revision's hash (one query)."""
    newest = (
        PromptRevision.objects.filter(artifact=OuterRef("pk")).order_by("-created_at", "-id").values("content_hash")[:1]
    )
    prompts = PromptArtifact.objects.filter(workspace=workspace).annotate(latest_content_hash=Subquery(newest))
    return keyset_page(
        lambda position: keyset_range(prompts, "artifact_id", position, limit),
        "artifact_id",
        cursor,
        limit,
        PROMPT_ID_RE,
    )
