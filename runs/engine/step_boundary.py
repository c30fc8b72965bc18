"""Every write that moves a running run, each a compare-and-swap on the run's lease.

The step boundary is the executor's hot path: a 10-step run crosses it eleven times. Through
the ORM each crossing cost two commits and four freshly compiled queries; here it is one
commit of plain SQL: record the step just run (and its tool call), hold the lease, start the
next step. The SQL is portable (PostgreSQL and SQLite), and the step's finish is committed
before the next step's provider or tool is called, as before. On PostgreSQL the statements are
prepared once per connection: a dozen texts, each run thousands of times.
"""

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache

from django.db import DEFAULT_DB_ALIAS, DataError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from runs.models import Run, Step, ToolCall
from runs.prepared import db_datetime, prepared_cursor

from .dispatch import dispatch_on_commit, finished_on_commit
from .durability import async_commit_column, commit_waits_for_flush
from .lease import beat_interval, hold, stop_at_boundary


@dataclass
class StepOutcome:
    """A step that has run but is not yet recorded: it is written with the next boundary's commit."""

    step_id: int
    status: str
    finished_at: object
    fields: dict
    tool_call: dict | None = None
    error: str = ""
    node_id: str = ""

    def without_values(self, error: str) -> "StepOutcome":
        """The step failed with `error`, keeping what was run (usage, the tool call) but none of its values."""
        kept = {k: v for k, v in self.fields.items() if k in FINISH_USAGE_COLUMNS and k != "raw_usage"}
        kept.update(
            {
                k: self.fields[k]
                for k in ("model_ref", "prompt_hash", "prompt_artifact_id", "simulated")
                if k in self.fields
            }
        )
        call = self.tool_call and {**self.tool_call, "arguments": {}, "result": None}
        return replace(self, status=Step.Status.FAILED, fields=kept, tool_call=call, error=error)


log = logging.getLogger(__name__)

# What a write raises when the database refuses a value (SQLite's JSON check, PostgreSQL's NUL and encoding
# errors), or the JSON encoding of one fails: the step's values are at fault, not the database.
VALUE_REFUSED = (DataError, IntegrityError, ValueError, RecursionError)
REFUSED_MESSAGE = "the database refused to store its result"


# An LLM step's usage, written with its finish (null for tool steps and failed calls).
FINISH_USAGE_COLUMNS = (
    *Step.USAGE_FIELDS,
    "raw_usage",
    "cost_usd",
    "price_version",
    "latency_ms",
    "finish_reason",
)
TEXT_USAGE_COLUMNS = ("price_version", "finish_reason")  # empty, not null, when a step has none


@cache
def _statements(vendor: str) -> dict[str, str]:
    q = connection.ops.quote_name
    run, step, call = (q(m._meta.db_table) for m in (Run, Step, ToolCall))
    running, pending = Run.Status.RUNNING, Run.Status.PENDING
    held = "run_id = %s AND lease = %s"
    counted = "steps_completed = steps_completed + %s"  # 1 when the crossing records a completed step
    return {
        # The heartbeat only when older than the beat interval (the first %s): an unchanged indexed column
        # lets PostgreSQL update the row in place instead of adding an entry to each of its indexes.
        "hold": f"UPDATE {run} SET {counted}, status = '{running}',"
        f" heartbeat_at = CASE WHEN heartbeat_at IS NULL OR heartbeat_at < %s THEN %s ELSE heartbeat_at END,"
        f" simulated = simulated OR %s WHERE {held} AND status IN ('{running}', '{pending}')",
        # The recorded step's count when the run's own update above did not apply (paused, cancelled, taken over).
        "count": f"UPDATE {run} SET steps_completed = steps_completed + 1 WHERE run_id = %s",
        "start_columns": f"INSERT INTO {step} (run_id, node_id, type, position, status, input, output, error, model_ref,"
        f" prompt_hash, simulated, mapped_from, started_at, price_version)",
        "start_values": f"%s, %s, %s, '{Step.Status.RUNNING}', %s, '', '', '', '', %s, %s, %s, ''",
        "finish": f"UPDATE {step} SET status = %s, finished_at = %s, input = %s, output = %s, error = %s,"
        f" model_ref = %s, prompt_hash = %s, prompt_artifact_id = %s, simulated = %s, "
        + ", ".join(f"{name} = %s" for name in FINISH_USAGE_COLUMNS)
        + " WHERE id = %s",
        "tool_call": f"INSERT INTO {call} (step_id, tool, mutating, dry_run, source, recorded_in_run_id, arguments,"
        f" result, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        "complete": f"UPDATE {run} SET {counted}, status = '{Run.Status.COMPLETED}', finished_at = %s, lease = '',"
        f" simulated = simulated OR %s WHERE {held} AND status = '{running}'",
        # The worker is stopping: the run goes back to pending, free for the next claim, and is dispatched again.
        "hand_on": f"UPDATE {run} SET {counted}, status = '{pending}', lease = '', dispatched_at = %s,"
        f" simulated = simulated OR %s WHERE {held} AND status IN ('{running}', '{pending}')",
        "fail": f"UPDATE {run} SET {counted}, status = '{Run.Status.FAILED}', error = %s, finished_at = %s, lease = '',"
        f" simulated = simulated OR %s WHERE {held}",
    }


# The ORM's adaptation of an int or a str into an integer or text column gives the value back as it is: such a
# value skips it (a boundary adapts a dozen values, eleven times a replay). Anything else goes through the field.
_PLAIN_TYPES = {"PositiveIntegerField": int, "IntegerField": int, "BigIntegerField": int, "CharField": str}


@cache
def _adapter(model, name: str):
    """`value, db -> value` adapted as the ORM would save it into `model.name` (JSON, decimal)."""
    field = model._meta.get_field(name)
    plain = _PLAIN_TYPES.get(field.get_internal_type())
    prep = field.get_db_prep_save
    if plain is None:
        return prep
    return lambda value, db: value if value is None or type(value) is plain else prep(value, db)


def _prep(model, name: str, value, db=None):
    """`value` adapted as the ORM would save it into `model.name` (JSON, decimal); `db`: the connection itself, when
    the caller looked it up once for several values (each use of django.db.connection looks it up again)."""
    return _adapter(model, name)(value, db or connections[DEFAULT_DB_ALIAS])


@cache
def _usage_adapters() -> tuple:
    """FINISH_USAGE_COLUMNS' adapters, each with the value a step without it writes."""
    return tuple(
        (name, _adapter(Step, name), "" if name in TEXT_USAGE_COLUMNS else None) for name in FINISH_USAGE_COLUMNS
    )


def _usage_values(fields: dict, db) -> tuple:
    """FINISH_USAGE_COLUMNS' values, adapted as the ORM would (JSON, decimal)."""
    return tuple(adapt(fields.get(name, missing), db) for name, adapt, missing in _usage_adapters())


class StepBoundary:
    """The executor's writes between steps for one run and lease, one commit per crossing.

    On PostgreSQL a crossing is a single statement (data-modifying CTEs), so one round trip;
    SQLite, in process, runs the same statements one by one in one transaction.
    """

    def __init__(self, run_id: str, lease: str):
        self.run_id = run_id
        self.lease = lease
        self.outcome: StepOutcome | None = None
        self.simulated = False  # a simulated completion was seen and the run is not yet marked

    def _recording(self, sql: dict) -> list[tuple[str, tuple]]:
        """The statements that record the pending outcome (none if nothing ran since the last crossing)."""
        outcome = self.outcome
        if outcome is None:
            return []
        f, at, db = outcome.fields, db_datetime(outcome.finished_at), connections[DEFAULT_DB_ALIAS]
        parts: list[tuple[str, tuple]] = [
            (
                sql["finish"],
                (
                    outcome.status,
                    at,
                    _prep(Step, "input", f.get("input", {}), db),
                    f.get("output", ""),
                    outcome.error,
                    f.get("model_ref", ""),
                    f.get("prompt_hash", ""),
                    f.get("prompt_artifact_id", ""),
                    f.get("simulated", False),
                    *_usage_values(f, db),
                    outcome.step_id,
                ),
            )
        ]
        if outcome.tool_call is not None:
            c = outcome.tool_call
            parts.append(
                (
                    sql["tool_call"],
                    (
                        outcome.step_id,
                        c["tool"],
                        c["mutating"],
                        c["dry_run"],
                        c.get("source", ToolCall.Source.DRY_RUN if c["dry_run"] else ToolCall.Source.LIVE),
                        c.get("recorded_in_run_id", ""),
                        _prep(ToolCall, "arguments", c["arguments"], db),
                        _prep(ToolCall, "result", c["result"], db),
                        at,
                    ),
                )
            )
        return parts

    def _one_statement(self, parts, named, final: str, params: tuple) -> tuple[str, tuple]:
        """PostgreSQL: the recording parts and the named steps as data-modifying CTEs before `final`."""
        ctes = [(f"recorded_{i}", sql, ps) for i, (sql, ps) in enumerate(parts)] + named
        if not ctes:
            return final, params
        sql = "WITH " + ", ".join(f"{name} AS ({cte})" for name, cte, _ in ctes) + " " + final
        return sql, tuple(p for _, _, ps in ctes for p in ps) + params

    @property
    def _done(self) -> int:
        """1 when the pending outcome is a completed step: the run's steps_completed counts it in the same commit."""
        return int(self.outcome is not None and self.outcome.status == Step.Status.COMPLETED)

    def _counted_unless(self, cte: str) -> list[tuple[str, str, tuple]]:
        """PostgreSQL: count the recorded step on the run when the run's own update (`cte`) did not apply.

        One statement may not update a row twice, so the count rides on that update when it applies, and
        this CTE, which waits for it, applies only when it did not (re-checked on the newest row version).
        """
        if not self._done:
            return []
        sql = _statements(connection.vendor)
        return [("counted", f"{sql['count']} AND NOT EXISTS (SELECT 1 FROM {cte})", (self.run_id,))]

    def _cross(self, parts: list[tuple[str, tuple]], final: str, params: tuple) -> int:
        """Run the recording parts and the final update of the run in one commit; returns how many runs it updated."""
        done = self._done
        params = (done, *params)
        if connection.vendor == "postgresql":
            named = [("finished", f"{final} RETURNING run_id", params), *self._counted_unless("finished")]
            with prepared_cursor() as cursor:  # one statement: atomic and committed on its own
                recorded_call = self.outcome.tool_call if self.outcome is not None else None
                waits = commit_waits_for_flush(recorded_call=recorded_call, starts_mutating_call=False, final=True)
                final_select = "SELECT count(*) FROM finished" + async_commit_column(waits)
                cursor.execute(*self._one_statement(parts, named, final_select, ()))
                count = cursor.fetchone()[0]
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                for sql, ps in parts:
                    cursor.execute(sql, ps)
                cursor.execute(final, params)
                count = cursor.rowcount
                if done and not count:
                    cursor.execute(_statements(connection.vendor)["count"], (self.run_id,))
        self.outcome = None  # committed
        return count

    def _refused(self, exc: Exception) -> bool:
        """After a write refused for a value of the pending step: fail that step without its values, and the run.

        False when nothing was pending (the refusal is not about a value, the caller re-raises).
        """
        outcome = self.outcome
        if outcome is None:
            return False
        log.warning("run %s: the step %s was refused by the database: %r", self.run_id, outcome.step_id, exc)
        self.outcome = outcome.without_values(REFUSED_MESSAGE)
        node = f"Node {outcome.node_id}" if outcome.node_id else "A step"
        self.fail(f"{node} failed: {REFUSED_MESSAGE}")
        return True

    def start(
        self,
        *,
        node_id: str,
        type: str,
        position: int,
        mapped_from: str,
        invokes_mutation: bool = False,
        let_go: bool = True,
    ) -> int | None:
        """Record the last step, hold the lease and start this one: its id, or None to start nothing.

        None too when the last step's values were refused: that step and the run are failed instead. A run
        paused, cancelled or taken over lets go of the lease here, unless `let_go` is false (steps of the run
        are still executing beside this one: the executor lets go once they are recorded). When the worker is
        stopping, the run is handed on (`hand_on`) instead of starting this step, once no other step of it runs.
        """
        try:
            if stop_at_boundary():
                if let_go:
                    self.hand_on()
                else:  # steps still executing beside this one: the executor comes back alone, then hands on
                    self.flush()
                return None
            return self._start(
                node_id=node_id,
                type=type,
                position=position,
                mapped_from=mapped_from,
                invokes_mutation=invokes_mutation,
                let_go=let_go,
            )
        except VALUE_REFUSED as exc:
            if not self._refused(exc):
                raise
            return None

    def _start(
        self, *, node_id: str, type: str, position: int, mapped_from: str, invokes_mutation: bool, let_go: bool
    ) -> int | None:
        sql = _statements(connection.vendor)
        while True:
            recorded_call = self.outcome.tool_call if self.outcome is not None else None
            waits = commit_waits_for_flush(recorded_call=recorded_call, starts_mutating_call=invokes_mutation)
            moment = timezone.now()
            at, fresh_after = db_datetime(moment), db_datetime(moment - timedelta(seconds=beat_interval()))
            done = self._done
            hold_params = (done, fresh_after, at, self.simulated, self.run_id, self.lease)
            step_values = (node_id, type, position, _prep(Step, "input", {}), False, mapped_from, at)
            parts = self._recording(sql)
            if connection.vendor == "postgresql":
                statement = self._one_statement(
                    parts,
                    [
                        ("held", f"{sql['hold']} RETURNING run_id", hold_params),
                        *self._counted_unless("held"),
                        (
                            "started",
                            f"{sql['start_columns']} SELECT run_id, {sql['start_values']} FROM held"
                            f" ON CONFLICT DO NOTHING RETURNING id",
                            step_values,
                        ),
                    ],
                    "SELECT (SELECT count(*) FROM held), (SELECT id FROM started)" + async_commit_column(waits),
                    (),
                )
                with prepared_cursor() as cursor:  # one statement: atomic, committed on its own
                    cursor.execute(*statement)
                    held, step_id = cursor.fetchone()[:2]
            else:
                with transaction.atomic(), connection.cursor() as cursor:
                    for part, ps in parts:
                        cursor.execute(part, ps)
                    cursor.execute(sql["hold"], hold_params)
                    held, step_id = cursor.rowcount, None
                    if held:
                        cursor.execute(
                            f"{sql['start_columns']} VALUES (%s, {sql['start_values']})"
                            f" ON CONFLICT DO NOTHING RETURNING id",
                            (self.run_id, *step_values),
                        )
                        row = cursor.fetchone()
                        step_id = row[0] if row else None
                    elif done:
                        cursor.execute(sql["count"], (self.run_id,))
            self.outcome = None  # committed
            if held:
                self.simulated = False
                return step_id  # None: another executor recorded this step and owns the run
            if not let_go or not hold(self.run_id, self.lease):
                return None  # paused, cancelled or taken over: the lease is released (kept without let_go)
            # resumed between the two writes: the run is ours again, start the step

    def flush(self) -> None:
        """Record the last step (a refused one fails with the run, whose lease the caller then finds released)."""
        sql = _statements(connection.vendor)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for s, ps in self._recording(sql):
                    cursor.execute(s, ps)
                if self._done:
                    cursor.execute(sql["count"], (self.run_id,))
        except VALUE_REFUSED as exc:
            if not self._refused(exc):
                raise
        self.outcome = None

    def fail(self, message: str) -> None:
        """Record the failed step and fail the run in one commit (the step without its values if they are refused)."""
        sql = _statements(connection.vendor)
        params = (message, db_datetime(timezone.now()), self.simulated, self.run_id, self.lease)
        try:
            failed = self._cross(self._recording(sql), sql["fail"], params)
        except VALUE_REFUSED as exc:
            if self.outcome is None:
                raise
            log.warning("run %s: the step %s was refused by the database: %r", self.run_id, self.outcome.step_id, exc)
            self.outcome = self.outcome.without_values(REFUSED_MESSAGE)
            failed = self._cross(self._recording(sql), sql["fail"], params)
        if failed:
            finished_on_commit(self.run_id)

    def hand_on(self) -> None:
        """Record the last step and give the run back, pending and dispatched again, in one commit: its next
        executor (another worker, or this one restarted) starts at the next step, so no step runs twice."""
        sql = _statements(connection.vendor)
        params = (db_datetime(timezone.now()), self.simulated, self.run_id, self.lease)
        if self._cross(self._recording(sql), sql["hand_on"], params):
            self.simulated = False
            log.info("run %s handed on at a step boundary: this worker is stopping", self.run_id)
            dispatch_on_commit(self.run_id)
        else:  # paused, cancelled or taken over meanwhile: let go as any boundary does
            hold(self.run_id, self.lease)

    def complete(self) -> bool:
        """Record the last step and complete the run, unless it was paused or cancelled meanwhile.

        False too when the last step's values were refused: that step and the run are failed instead.
        """
        sql = _statements(connection.vendor)
        try:
            completed = self._cross(
                self._recording(sql),
                sql["complete"],
                (db_datetime(timezone.now()), self.simulated, self.run_id, self.lease),
            )
        except VALUE_REFUSED as exc:
            if not self._refused(exc):
                raise
            return False
        if completed:
            self.simulated = False
            finished_on_commit(self.run_id)
        return bool(completed)
