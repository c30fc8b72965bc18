"""{{ trigger.x }} and {{ nodes.<id>.output }} placeholders in prompts and tool arguments."""

import json
import re

from runs.integers import ascii_int

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class TemplateError(Exception):
    pass


def resolve(path: str, context: dict):
    parts = path.split(".")
    if parts[0] not in ("trigger", "nodes"):
        raise TemplateError(f"unknown template variable '{path}': use trigger.* or nodes.<node_id>.output")
    value = context
    walked = []
    for part in parts:
        walked.append(part)
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and (index := ascii_int(part, low=0, high=len(value) - 1)) is not None:
            value = value[index]
        else:
            raise TemplateError(f"missing key '{'.'.join(walked)}' in template '{{{{ {path} }}}}'")
    return value


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
