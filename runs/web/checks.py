"""The compare page's Checks panel: checks kept in the URL (`?checks=<JSON list>`), one added by a small form.

A link reproduces the panel: the page evaluates the URL's checks on every load, through the same service as the API.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from runs.checks import CheckResult, check_pair, parse_checks
from runs.checks.declarations import AGAINST_ORIGINAL, KIND_NAMES, MAX_CHECKS
from runs.compare import Comparison, StepFacts
from runs.http.errors import BadRequest
from runs.models import Run

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


class FormError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _number(raw: str, kind: str) -> Any:
    try:
        return int(raw) if kind in ("max_length", "max_latency_ms", "max_output_tokens") else float(raw)
    except ValueError:
        raise FormError("value", f"{raw!r} is not a number.") from None


def declaration(form: QueryDict) -> dict:
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


def checks_in(query: QueryDict) -> list[dict]:
    """The URL's checks as declared (dicts); a malformed parameter is a BadRequest the panel shows."""
    raw = query.get("checks", "")
    if not raw:
        return []
    try:
        checks = json.loads(raw)
    except ValueError:
        raise BadRequest("The checks in this link are not JSON.", field="checks") from None
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise BadRequest("The checks in this link must be a JSON list of checks.", field="checks")
    return checks


def url_with(query: QueryDict, checks: list[dict]) -> str:
    """The compare page's query string with `checks` replaced and the form's own fields dropped."""
    kept = query.copy()
    for name in ("checks", "add", "node", "kind", "value", "path", "ignore_case", "fragment", "offset"):
        kept.pop(name, None)
    if checks:
        kept["checks"] = json.dumps(checks, ensure_ascii=False, separators=(",", ":"))
    return "?" + kept.urlencode() if kept else "?"


@dataclass
class ShownCheck:
    result: CheckResult
    label: str
    remove_url: str


@dataclass
class Panel:
    checks: list[ShownCheck]
    error: str = ""  # the URL's checks could not be read
    form_error: str = ""
    form_field: str = ""
    add_url: str = ""  # after a successful add: where the page redirects

    @property
    def regressions(self) -> int:
        return sum(c.result.regression for c in self.checks)


def label(check: dict) -> str:
    params = {k: v for k, v in check.items() if k not in ("node", "kind")}
    shown = json.dumps(params, ensure_ascii=False) if params else ""
    return f"{check['kind']} {shown if len(shown) <= 120 else shown[:119] + '…'}".strip()


def _evaluate(base: Run, other: Run, declared: list[dict], steps: dict[str, list[StepFacts]]):
    body = parse_checks({"checks": declared})
    return check_pair(base=base, other=other, checks=list(body.checks), steps=steps).results


def panel(query: QueryDict, comparison: Comparison) -> Panel:
    """The panel of the URL's checks, with the form's check added when the form was submitted (`add`), evaluated
    on the steps the comparison read."""
    base, other, steps = comparison.base, comparison.other, comparison.steps
    try:
        declared = checks_in(query)
        results = _evaluate(base, other, declared, steps) if declared else []
    except BadRequest as exc:
        return Panel([], error=f"{exc.message} Remove the checks to start again.")
    shown = [
        ShownCheck(result, label(check), url_with(query, declared[:i] + declared[i + 1 :]))
        for i, (check, result) in enumerate(zip(declared, results, strict=True))
    ]
    found = Panel(shown)
    if "add" in query:
        try:
            if len(declared) >= MAX_CHECKS:
                raise FormError("kind", f"A link holds at most {MAX_CHECKS} checks.")
            added = declared + [declaration(query)]
            _evaluate(base, other, added, steps)  # refused as the API refuses it, naming the field
            found.add_url = url_with(query, added)
        except FormError as exc:
            found.form_error, found.form_field = exc.message, exc.field
        except BadRequest as exc:
            found.form_error = exc.message.replace(f"checks[{len(declared)}].", "", 1)
            found.form_field = FORM_FIELD_OF.get((exc.field or "").rsplit(".", 1)[-1], "value")
    return found


# (kind, its name, checked against the original, what Value holds, what JSON pointer holds) for the form's select.
KIND_CHOICES = [(kind, kind.replace("_", " "), kind in AGAINST_ORIGINAL, *FORM_FIELDS[kind]) for kind in KIND_NAMES]
