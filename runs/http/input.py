"""Declared input: pydantic models validate every JSON body and form, and their errors become a 400 naming the field."""

from collections.abc import Collection, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from .errors import BadRequest

# The largest number an integer column holds on both databases: a version number above it names nothing.
MAX_VERSION_NUMBER = 2_147_483_647

# Errors raised with this type carry their own complete message; others get the field name prefixed.
OWN_MESSAGE = "reprise"


def invalid(message: str, *, field: str | None = None) -> PydanticCustomError:
    """A validation error shown as written, with {field} replaced by the field's path.

    `field` names the field for a check on the whole model, whose error has no location of its own.
    """
    return PydanticCustomError(OWN_MESSAGE, message, {"at": field} if field else None)


class Input(BaseModel):
    """Base of every declared body: an unknown key is refused (400 naming it), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class QueryInput(Input):
    """A query string's declared parameters: others (a page's own, a cache-buster) are left alone."""

    model_config = ConfigDict(extra="ignore")


def field_path(loc: tuple[int | str, ...]) -> str:
    """('nodes', 0, 'prompt', 'artifact_id') -> 'nodes[0].prompt.artifact_id'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


UNION_TAG_ERRORS = ("union_tag_invalid", "union_tag_not_found")


def parse[M: BaseModel](model: type[M], data: Any, *, prefix: str = "", union_tags: Collection[str] = ()) -> M:
    """Validate `data` against `model`, or raise BadRequest for the first error, naming its field.

    `union_tags`: the tags of a discriminated union in `model`, which pydantic puts in an error's location
    (`checks.2.regex.pattern`) and a field path leaves out (`checks[2].pattern`).
    """
    if not isinstance(data, Mapping):
        raise BadRequest(f"{prefix or 'The request'} must be a JSON object.", field=prefix or None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        ctx = error.get("ctx") or {}
        at = ctx.get("at")
        if error["type"] in UNION_TAG_ERRORS:
            at = ctx["discriminator"].strip("'")
        loc = tuple(p for p in error["loc"] if p not in union_tags) + ((at,) if at else ())
        field = field_path(((prefix,) if prefix else ()) + loc) or None
        if error["type"] == "extra_forbidden":
            raise BadRequest(f"{field} is not a field of this request: check its name.", field=field) from None
        if error["type"] == OWN_MESSAGE:
            raise BadRequest(error["msg"].replace("{field}", field or "value"), field=field) from None
        if error["type"] == "union_tag_invalid":
            message = f"{field}: {ctx['tag']!r} is not one of {ctx['expected_tags']}."
            raise BadRequest(message, field=field) from None
        if error["type"] == "union_tag_not_found":
            raise BadRequest(f"{field} is required.", field=field) from None
        raise BadRequest(f"{field}: {error['msg']}.", field=field) from None


def refuse_unknown_fields(data: Mapping, model: type[BaseModel]) -> None:
    """400 naming the first key of a body that `model` does not declare, for a body a service parses piecemeal."""
    known = {field.alias or name for name, field in model.model_fields.items()}
    unknown = [key for key in data if key not in known]
    if unknown:
        raise BadRequest(f"{unknown[0]} is not a field of this request: check its name.", field=str(unknown[0]))


def _blank_is_none(value: Any) -> Any:
    """A form's empty field and an absent JSON key mean the same thing."""
    return None if value == "" else value


def _version_number(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VERSION_NUMBER:
        raise invalid("{field} must be a workflow version number (a positive integer).")
    return value


def version_number(raw: Any, *, field: str = "target_version") -> int | None:
    """A version number from a query string or a form field; None when absent."""
    try:
        return _version_number(raw)
    except PydanticCustomError as exc:
        raise BadRequest(exc.message().replace("{field}", field), field=field) from None


def required_version(value: Any) -> int:
    number = _version_number(value)
    if number is None:
        raise invalid("{field} is required: a workflow version number.")
    return number


# A workflow version number, from JSON (3) or a form or query string ("3"): the one parser of version numbers.
VersionNumber = Annotated[
    int | None,
    BeforeValidator(_version_number, json_schema_input_type=Annotated[int, Field(ge=1, le=MAX_VERSION_NUMBER)] | None),
]
Blank = BeforeValidator(_blank_is_none)
