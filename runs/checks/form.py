"""A check described by a small form (node, kind, value, JSON pointer, ignore case): the compare page's Checks panel
and the new-cohort form both build their checks here, and both refuse them as the API's body refuses them."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from runs.http.errors import BadRequest
from runs.http.input import parse_json
from runs.integers import ascii_int

from .declarations import AGAINST_ORIGINAL, KIND_NAMES, MAX_CHECKS
from .service import parse_checks

# What the form's two fields mean for each kind: (label of "value", label of "path"); None: the field is unused.
FORM_FIELDS: dict[str, tuple[str | None, str | None]] = {
    "equals": ("the exact text", None),
    "contains": ("the text", None),
    "not_contains": ("the text", None),
    "contains_any": ("the texts, one per line", None),
    "contains_all": ("the texts, one per line", None),
    "regex": ("a Python regular expression", None),
    "json_valid": (None, None),
    "json_schema": ("a JSON Schema (Draft 2020-12)", None),
    "json_field_equals": ("the expected JSON value (or plain text)", "a JSON pointer, e.g. /decision"),
    "max_length": ("the most characters", None),
    "similar_to_original": ("the least word similarity, 0 to 1", None),
    "json_fields_unchanged": (None, "JSON pointers, separated by spaces"),
    "tool_calls_unchanged": (None, None),
    "max_cost_usd": ("the most US dollars", None),
    "max_latency_ms": ("the most milliseconds", None),
    "max_output_tokens": ("the most output tokens", None),
}
CASE_KINDS = ("contains", "not_contains", "contains_any", "contains_all")
# The form field that carries each parameter, to show a refusal beside it.
FORM_FIELD_OF = {"node": "node", "kind": "kind", "path": "path", "paths": "path", "case_sensitive": "ignore_case"}
# The small form's fields; a page may post them under a prefix (the cohort form's are check_*, beside its own fields).
FIELDS = ("node", "kind", "value", "path", "ignore_case")
NOT_A_LIST = "The checks are not a JSON list of checks: correct them, or clear the box to start again."
GONE = "That check is no longer in the box (it was edited meanwhile): the list shows the box as it is now."
# (kind, checked against the original, what Value holds, what JSON pointer holds) for the form's select. A kind is
# named as the API, the box, the check's label and the cohort's verdict spell it: one name wherever it is read.
KIND_CHOICES = [(kind, kind in AGAINST_ORIGINAL, *FORM_FIELDS[kind]) for kind in KIND_NAMES]


class FormError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def form_of(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The small form's fields as posted (under `prefix`), by their own names."""
    return {name: data.get(prefix + name, "") for name in FIELDS}


def box_of(raw: str) -> list[dict]:
    """The checks a box of text holds (a JSON list of objects; empty text is none), else a FormError on the box."""
    if not raw.strip():
        return []
    try:
        checks = parse_json(raw, field="checks")  # the one JSON parser: NUL, lone surrogates, NaN, depth refused
    except BadRequest as exc:
        raise FormError("checks", f"{NOT_A_LIST} {exc.message}") from None
    if not is_check_list(checks):
        raise FormError("checks", NOT_A_LIST)
    return checks


def is_check_list(value: Any) -> bool:
    """Whether parsed JSON has the shape of declared checks (a list of objects) for the box and a link alike; what
    each check says is parse_checks' to judge."""
    return isinstance(value, list) and all(isinstance(c, dict) for c in value)


def box_text(checks: list[dict]) -> str:
    return json.dumps(checks, ensure_ascii=False, indent=1) if checks else ""


def key_of(check: dict) -> str:
    """Which check a Remove means: its content, not its place, so a box edited meanwhile never loses another one."""
    return hashlib.sha256(json.dumps(check, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def without(declared: list[dict], key: str) -> list[dict]:
    """`declared` without the check `key` names (its first copy), else a FormError: it is no longer there."""
    index = next((i for i, check in enumerate(declared) if key_of(check) == key), None)
    if index is None:
        raise FormError("checks", GONE)
    return declared[:index] + declared[index + 1 :]


def _number(raw: str, kind: str) -> Any:
    """The Value of a figure's check: ASCII digits only (int() would read "١٢"), the integers through ascii_int;
    the declaration refuses what is out of its range."""
    number: int | float | None
    if kind in ("max_length", "max_latency_ms", "max_output_tokens"):
        number = ascii_int(raw, low=-(10**18), high=10**18)
    else:
        try:
            number = float(raw) if raw.isascii() else None
        except ValueError:
            number = None
    if number is None:
        raise FormError("value", f"{raw!r} is not a number.")
    return number


def declaration(form: Mapping[str, Any]) -> dict:
    """The check the form describes, as the API would receive it."""
    kind = form.get("kind", "")
    if kind not in FORM_FIELDS:
        raise FormError("kind", "Pick a kind of check.")
    check: dict[str, Any] = {"kind": kind, "node": form.get("node") or None}
    # A textarea posts its line breaks as CRLF; recorded outputs break lines with LF.
    value, path = form.get("value", "").replace("\r\n", "\n"), form.get("path", "").strip()
    if kind in ("equals", "contains", "not_contains"):
        check["value"] = value
    elif kind in ("contains_any", "contains_all"):
        check["values"] = [line for line in value.splitlines() if line.strip()]
    elif kind == "regex":
        check["pattern"] = value
    elif kind == "json_schema":
        try:
            check["schema"] = json.loads(value)
        except ValueError as exc:
            raise FormError("value", f"The schema is not JSON: {exc}.") from None
    elif kind == "json_field_equals":
        check["path"] = path
        try:
            check["value"] = json.loads(value)
        except ValueError:
            check["value"] = value  # plain text is the string it reads as
    elif kind == "json_fields_unchanged":
        check["paths"] = path.split()
    elif kind == "similar_to_original":
        check["min_ratio"] = _number(value.strip(), kind)
    elif kind.startswith("max_"):
        check["value"] = _number(value.strip(), kind)
    if kind in CASE_KINDS and form.get("ignore_case"):
        check["case_sensitive"] = False
    return check


def with_added(declared: list[dict], form: Mapping[str, Any], validate=None, holder: str = "A link") -> list[dict]:
    """`declared` and the form's check, refused as the API refuses it: a FormError naming the form's field.

    `validate` (the list, raising BadRequest) is the caller's own rule beyond the body's, such as the compare page's
    nodes of its two runs; `holder` says what holds at most MAX_CHECKS checks."""
    if len(declared) >= MAX_CHECKS:
        raise FormError("kind", f"{holder} holds at most {MAX_CHECKS} checks.")
    if declared:  # a refusal of the checks already there is theirs, not the form's
        try:
            parse_checks({"checks": declared})
        except BadRequest as exc:
            raise FormError("checks", exc.message) from None
    added = declared + [declaration(form)]
    try:
        if validate is None:
            parse_checks({"checks": added})
        else:
            validate(added)
    except BadRequest as exc:
        field = FORM_FIELD_OF.get((exc.field or "").rsplit(".", 1)[-1], "value")
        raise FormError(field, exc.message.replace(f"checks[{len(declared)}].", "", 1)) from None
    return added


def label(check: dict) -> str:
    params = {k: v for k, v in check.items() if k not in ("node", "kind")}
    shown = json.dumps(params, ensure_ascii=False) if params else ""
    return f"{check.get('kind', '(no kind)')} {shown if len(shown) <= 120 else shown[:119] + '…'}".strip()
