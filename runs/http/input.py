"""Declared input: pydantic models validate every JSON body and form, and their errors become a 400 naming the field."""

import json
from collections.abc import Collection, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from runs.integers import ascii_int
from runs.jsonvalues import MAX_DEPTH, problem_at

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


NOT_FINITE = "JSON numbers must be finite: NaN and Infinity are not JSON, and neither database stores them."
REFUSED_VALUES = {
    "a NUL (U+0000) character": "JSON strings must not contain NUL (\\u0000) characters.",
    "a lone UTF-16 surrogate (U+D800 to U+DFFF), which is not text": (
        "Strings must not contain a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair): it is not text."
    ),
    "a number that is not finite (NaN or Infinity)": NOT_FINITE,
}


def refuse_unstorable(value: Any, *, prefix: str = "") -> None:
    """BadRequest naming the field of the first value neither database stores: NUL, lone surrogate, NaN, depth."""
    found = problem_at(value)
    if found is None:
        return
    loc, reason = found
    field = field_path(((prefix,) if prefix else ()) + loc) or None
    if reason.startswith("nesting"):
        message = f"{field or 'The JSON body'} is nested deeper than {MAX_DEPTH} levels."
    else:
        text = REFUSED_VALUES.get(reason.removesuffix(" in a key"), f"Values must not contain {reason}.")
        message = f"{field}: {text}" if field else text
    raise BadRequest(message, field=field)


def parse_json(raw: str | bytes, *, field: str | None = None) -> Any:
    """The one JSON parser: every JSON the product accepts (a body, a form's JSON text) passes the same guards.

    Malformed JSON, NaN and Infinity (1e999 too), NUL, lone surrogates and nesting deeper than MAX_DEPTH are
    a 400 naming `field` (the body itself when None) and, inside the document, the path to the value.
    """
    what = field or "The JSON body"
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"{what} is nested deeper than {MAX_DEPTH} levels.", field=field) from None
    except ValueError as exc:  # UnicodeDecodeError too
        if field is None:
            raise BadRequest("Malformed JSON body.") from None
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        message = getattr(exc, "msg", None) or "not UTF-8"
        raise BadRequest(
            f"{field} is not valid JSON: {message} at line {line}, column {column}.", field=field
        ) from None
    refuse_unstorable(data, prefix=field or "")
    return data


UNION_TAG_ERRORS = ("union_tag_invalid", "union_tag_not_found")

# pydantic's common errors in the API's own words ("name is required.", not "name: Field required."), by error type;
# {field} is the field's path, the other names come from the error's context. Others keep pydantic's message.
_A_WHOLE_NUMBER = "{field} must be a whole number."
_A_NUMBER = "{field} must be a number."
_TRUE_OR_FALSE = "{field} must be true or false."
_AN_OBJECT = "{field} must be a JSON object."
A_MOMENT = "{field} must be a time in ISO 8601, e.g. 2026-11-30T10:00:00Z."
PLAIN_MESSAGES = {
    "missing": "{field} is required.",
    "string_type": "{field} must be a string.",
    "int_type": _A_WHOLE_NUMBER,
    "int_parsing": _A_WHOLE_NUMBER,
    "int_from_float": _A_WHOLE_NUMBER,
    "float_type": _A_NUMBER,
    "float_parsing": _A_NUMBER,
    "decimal_type": _A_NUMBER,
    "decimal_parsing": _A_NUMBER,
    "bool_type": _TRUE_OR_FALSE,
    "bool_parsing": _TRUE_OR_FALSE,
    "list_type": "{field} must be a list.",
    "dict_type": _AN_OBJECT,
    "model_type": _AN_OBJECT,
    "model_attributes_type": _AN_OBJECT,
    "too_short": "{field} needs at least {min_length} item(s).",
    "too_long": "{field} takes at most {max_length} item(s).",
    "string_too_short": "{field} must be at least {min_length} character(s).",
    "string_too_long": "{field} is at most {max_length} characters.",
    "greater_than_equal": "{field} must be at least {ge}.",
    "greater_than": "{field} must be greater than {gt}.",
    "less_than_equal": "{field} must be at most {le}.",
    "less_than": "{field} must be less than {lt}.",
    "literal_error": "{field} must be one of {expected}.",
    "enum": "{field} must be one of {expected}.",
    "string_pattern_mismatch": "{field} must match the pattern {pattern}.",
    "datetime_type": A_MOMENT,
    "datetime_parsing": A_MOMENT,
    "datetime_from_date_parsing": A_MOMENT,
}


def plain_message(error: Mapping, field: str) -> str:
    """A validation error's message in the API's words, or pydantic's own after the field's name."""
    template = PLAIN_MESSAGES.get(error["type"])
    if template is not None:
        try:
            return template.format(field=field, **(error.get("ctx") or {}))
        except (KeyError, IndexError):  # a context without the values the template names
            pass
    return f"{field}: {error['msg']}."


def parse[M: BaseModel](model: type[M], data: Any, *, prefix: str = "", union_tags: Collection[str] = ()) -> M:
    """Validate `data` against `model`, or raise BadRequest for the first error, naming its field.

    `union_tags`: the tags of a discriminated union in `model`, which pydantic puts in an error's location
    (`checks.2.regex.pattern`) and a field path leaves out (`checks[2].pattern`).
    """
    if not isinstance(data, Mapping):
        raise BadRequest(f"{prefix or 'The request'} must be a JSON object.", field=prefix or None)
    refuse_unstorable(data, prefix=prefix)
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
            raise BadRequest(PLAIN_MESSAGES["missing"].format(field=field), field=field) from None
        raise BadRequest(plain_message(error, field or "The request"), field=field) from None


def query_values(query: Any, model: type[BaseModel]) -> dict[str, str]:
    """A query string's parameters, one value each, for `model`; a parameter it declares given twice is a 400.

    QueryDict.dict() keeps the last value without a word: `status=completed&status=failed` read as failed alone.
    """
    declared = {field.alias or name for name, field in model.model_fields.items()}
    for name in declared:
        if len(given := query.getlist(name)) > 1:
            raise BadRequest(f"{name} is given {len(given)} times in the query string: it takes one value.", field=name)
    return query.dict()


def with_query(body: dict, query: dict[str, str], model: type[BaseModel]) -> dict:
    """`body` with the query string's values of `model`'s parameters, which a body may give too: the same
    parameter with two different values is a 400 naming it (the first of the model's order)."""
    given = {name: query[name] for name in model.model_fields if name in query}
    for name, value in given.items():
        if name in body and str(body[name]) != value:
            raise BadRequest(
                f"{name} is {value} in the query string and {body[name]!r} in the body: give it once.", field=name
            )
    return {**given, **body}


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
    number = ascii_int(value, low=1, high=MAX_VERSION_NUMBER)
    if number is None:
        raise invalid("{field} must be a workflow version number (a positive integer).")
    return number


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
