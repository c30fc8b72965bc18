"""The declared input of what exists: prompts, revisions, workflows, pauses and triggers.

Services validate with these (runs.http.input.parse) so every caller, API or not, gets the same 400s.
"""

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints

from .http.input import Input, invalid
from .models import CONTENT_HASH_RE

MAX_NAME_CHARS = 200
MAX_PROMPT_CHARS = 100_000
MAX_REASON_CHARS = 500


def _text(max_len: int) -> BeforeValidator:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise invalid("{field} is required and must be a non-empty string.")
        if len(value) > max_len:
            raise invalid(f"{{field}} is at most {max_len} characters.")
        if "\x00" in value:
            raise invalid("{field} must not contain NUL characters.")
        return value

    # The description says the same: a string of max_len characters at most with one that is not a space.
    return BeforeValidator(
        check, json_schema_input_type=Annotated[str, StringConstraints(max_length=max_len, pattern=r"\S")]
    )


def _content_hash(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(CONTENT_HASH_RE, value):
        raise invalid("{field} is malformed: expected sha256: followed by 64 hex digits.")
    return value


def _reason(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_REASON_CHARS:
        raise invalid(f"{{field}} must be a string of at most {MAX_REASON_CHARS} characters.")
    return value


def _payload(value: Any) -> dict:
    if not isinstance(value, dict):
        raise invalid("{field} must be a JSON object.")
    return value


Name = Annotated[str, _text(MAX_NAME_CHARS)]
PromptContent = Annotated[str, _text(MAX_PROMPT_CHARS)]
ContentHash = Annotated[
    str | None,
    BeforeValidator(
        _content_hash, json_schema_input_type=Annotated[str, StringConstraints(pattern=CONTENT_HASH_RE)] | None
    ),
]


class RevisionInput(Input):
    content: PromptContent
    content_hash: ContentHash = None


class PromptInput(RevisionInput):
    name: Name


class WorkflowInput(Input):
    name: Name


class PauseInput(Input):
    reason: Annotated[
        str,
        BeforeValidator(
            _reason, json_schema_input_type=Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)] | None
        ),
    ] = ""


class TriggerInput(Input):
    """A trigger's body: `{"payload": {...}}`. The wrapper is required, so a bare payload is refused, not run as {}."""

    payload: Annotated[dict, BeforeValidator(_payload, json_schema_input_type=dict[str, Any])]
