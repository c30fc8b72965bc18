"""What a step or a tool call was, in the run's own words: reused, dry-run, recorded or invoked.

The one owner of these labels: the trace, the compare page and the API all read them from here, so no page
says "invoked" for a call that was not sent.
"""

from dataclasses import dataclass
from functools import lru_cache

from runs.engine.executor import DRY_RUN_PLACEHOLDER
from runs.models import ToolCall

ORIGINALS_RESULT = "the original's result (not sent)"
PLACEHOLDER_RESULT = "a placeholder (not sent): the original recorded no result"
RECORDED_RESULT = "the recorded result (not sent)"
REUSED_RESULT = "copied with its step (not sent again)"
# A copy of a call that was not sent where it was made either: "not sent again" would say it was sent there.
REUSED_DRY_RUN_RESULT = "copied with its step, a dry run there: the original's result (never sent)"
REUSED_RECORDED_RESULT = "copied with its step, answered from a recording there (never sent)"


@dataclass(frozen=True)
class Label:
    """A badge (`kind` names its style, `text` its words), the run it names (`preposition` `run_id`), and what the
    result shown beside it is (`result`; empty for a call that was sent)."""

    kind: str
    text: str
    preposition: str = ""
    run_id: str = ""
    result: str = ""

    @property
    def sent(self) -> bool:
        return self.kind == ToolCall.Source.LIVE

    def __str__(self) -> str:
        """The label as one line of text: "recorded in run_…", "dry run", "invoked"."""
        return f"{self.text} {self.preposition} {self.run_id}" if self.run_id else self.text


def call_label(
    *, source: str, recorded_in_run_id: str, result, reused_from_run_id: str = "", dry_run: bool = False
) -> Label:
    """A tool call's label; `reused_from_run_id` is its step's (a reused call is copied with its step, keeping its
    `dry_run` and `recorded_in_run_id`: whether it was sent where it was made)."""
    if source == ToolCall.Source.REUSED:
        copied = REUSED_DRY_RUN_RESULT if dry_run else REUSED_RECORDED_RESULT if recorded_in_run_id else REUSED_RESULT
        return Label("reused", "reused", "from", reused_from_run_id, copied)
    if source == ToolCall.Source.RECORDED:
        return Label("recorded", "recorded", "in", recorded_in_run_id, RECORDED_RESULT)
    if source == ToolCall.Source.DRY_RUN:
        return Label(
            "dry-run", "dry run", result=PLACEHOLDER_RESULT if result == DRY_RUN_PLACEHOLDER else ORIGINALS_RESULT
        )
    return Label(ToolCall.Source.LIVE, "invoked")


@lru_cache(maxsize=1024)
def call_label_text(*, source: str, recorded_in_run_id: str, reused_from_run_id: str) -> str:
    """call_label as one line of text, which the result does not change: an API answer or an export writes one per
    tool call, so the few distinct labels are built once."""
    label = call_label(
        source=source, recorded_in_run_id=recorded_in_run_id, result=None, reused_from_run_id=reused_from_run_id
    )
    return str(label)


def step_label(*, reused_from_run_id: str) -> Label | None:
    """A step's label: only a reused step has one (its figures are the original's, not this run's)."""
    if reused_from_run_id:
        return Label("reused", "reused", "from", reused_from_run_id)
    return None


# Every badge and result note a tool call can show, built by call_label itself: pages that cache rendered labels key
# the cache by them, so rewording one never serves old rows.
WORDS = tuple(
    sorted(
        {
            f"{label} | {label.result}"
            for label in (
                call_label(source=source, recorded_in_run_id=run, result=result, reused_from_run_id="r", dry_run=dry)
                for source in ToolCall.Source.values
                for run in ("", "r")
                for dry in (False, True)
                for result in (None, DRY_RUN_PLACEHOLDER)
            )
        }
    )
)
