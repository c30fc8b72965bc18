"""The compare page's Checks panel: checks kept in the URL (`?checks=<JSON list>`), one added by a small form.

A link reproduces the panel: the page evaluates the URL's checks on every load, through the same service as the API.
"""

import json
from dataclasses import dataclass

from django.http import QueryDict

from runs.checks import CheckResult, check_pair, parse_checks
from runs.checks.form import FormError, is_check_list, label, with_added
from runs.compare import Comparison, StepFacts
from runs.http.errors import BadRequest
from runs.http.input import parse_json
from runs.models import Run


def checks_in(query: QueryDict) -> list[dict]:
    """The URL's checks as declared (dicts); a malformed parameter is a BadRequest the panel shows."""
    raw = query.get("checks", "")
    if not raw:
        return []
    try:
        checks = parse_json(raw, field="checks")  # the one JSON parser: NUL, lone surrogates, NaN, depth refused
    except BadRequest:
        raise BadRequest("The checks in this link are not JSON.", field="checks") from None
    if not is_check_list(checks):
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
            added = with_added(declared, query, lambda added: _evaluate(base, other, added, steps))
            found.add_url = url_with(query, added)
        except FormError as exc:
            found.form_error, found.form_field = exc.message, exc.field
    return found
