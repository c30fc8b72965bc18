"""{{ trigger.x }} and {{ nodes.<id>.output }} placeholders in prompts and tool arguments."""

import json
import re
from collections.abc import Callable

from runs.integers import ascii_int

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class TemplateError(Exception):
    pass


class MissingValue(TemplateError):
    """A placeholder whose value the context lacks; `path` is what is missing (``trigger.order_total``)."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


def resolve(path: str, context: dict):
    parts = path.split(".")
    if parts[0] not in ("trigger", "nodes"):
        raise MissingValue(f"unknown template variable '{path}': use trigger.* or nodes.<node_id>.output", path)
    value = context
    walked = []
    for part in parts:
        walked.append(part)
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and (index := ascii_int(part, low=0, high=len(value) - 1)) is not None:
            value = value[index]
        else:
            missing = ".".join(walked)
            raise MissingValue(f"{_missing_key(missing)} in template '{{{{ {path} }}}}'", missing)
    return value


def _missing_key(missing: str) -> str:
    return f"missing key '{missing}'"


def says_missing(error: str, missing: str) -> bool:
    """Whether a step's recorded error is the executor's for this missing value (a failure a replay would repeat)."""
    return _missing_key(missing) in error


def _as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def render_text(template: str, context: dict) -> str:
    return PLACEHOLDER.sub(lambda m: _as_text(resolve(m.group(1), context)), template)


def render_value(value, context: dict):
    """Render every string inside a JSON value; a string that is one placeholder keeps the value's type."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return resolve(whole.group(1), context)
        return render_text(value, context)
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    return value


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def first_missing(value, context: dict, *, unknown_nodes: set[str] | frozenset[str] = frozenset()) -> str | None:
    """What rendering this template (a string, or a JSON value of them) would find missing first; None if nothing.

    Read with the renderer's own resolve. The output of a node in `unknown_nodes` (one that will run, whose
    output is not known yet) is assumed present.
    """
    for text in _strings(value):
        for match in PLACEHOLDER.finditer(text):
            path = match.group(1)
            parts = path.split(".")
            if parts[0] == "nodes" and len(parts) > 1 and parts[1] in unknown_nodes:
                continue
            try:
                resolve(path, context)
            except MissingValue as exc:
                return exc.path
    return None


def with_node_names(value, name_of: Callable[[str], str]):
    """`value` (a template or a JSON value of them) with each `{{ nodes.<id>... }}` naming `name_of(id)`: a renamed
    node's references read as the original's, so a mapped version's arguments compare equal to the original's."""
    if isinstance(value, str):

        def renamed(match: re.Match) -> str:
            parts = match.group(1).split(".")
            if len(parts) < 2 or parts[0] != "nodes":
                return match.group(0)
            return "{{ " + ".".join(["nodes", name_of(parts[1]), *parts[2:]]) + " }}"

        return PLACEHOLDER.sub(renamed, value)
    if isinstance(value, dict):
        return {k: with_node_names(v, name_of) for k, v in value.items()}
    if isinstance(value, list):
        return [with_node_names(v, name_of) for v in value]
    return value
