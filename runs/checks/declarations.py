"""Checks as declared: one pydantic model per kind, a discriminated union on `kind`, and the answer's shapes.

The same models validate a request body (a 400 naming the field, e.g. `checks[2].pattern`), the checks kept in
the compare page's URL, and generate the OpenAPI description.
"""

import re
from typing import Annotated, Any, Literal

import regex
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from runs.http.input import invalid

MAX_CHECKS = 50
NODE_ID = Field(
    default=None,
    max_length=100,
    description="The node whose recorded step is checked; null checks the whole run (figures, tool calls only).",
)
# Bounds that keep a declaration small enough to live in a URL and to evaluate in milliseconds.
MAX_TEXT = 10_000
MAX_VALUES = 50

Text = Annotated[str, Field(max_length=MAX_TEXT)]
JSON_POINTER = re.compile(r"^(/([^~]|~[01])*)*$")


def _json_pointer(value: str) -> str:
    if not JSON_POINTER.match(value):
        raise invalid(
            '{field}: a JSON pointer starts with "/" (e.g. /decision, /refund/amount), or is "" for the whole'
            ' document; write "~" as ~0 and "/" inside a key as ~1.'
        )
    return value


JsonPointer = Annotated[
    str,
    Field(
        max_length=500,
        description='A JSON pointer (RFC 6901): "" is the whole document, "/refund/amount" a field in it.',
        json_schema_extra={"pattern": JSON_POINTER.pattern},
    ),
    AfterValidator(_json_pointer),
]


def _names_a_node(value):
    if value is None:
        raise invalid(
            "{field}: this kind checks one node's output: name the node (only the run's figures and its tool calls are checked on the whole run)."
        )
    return value


class CheckBase(BaseModel):
    """Every check: strict types, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)

    node: str | None = NODE_ID


class OutputCheck(CheckBase):
    """A check of one node's output: it needs a node."""

    node: Annotated[str, BeforeValidator(_names_a_node)] = Field(
        max_length=100, description="The node whose recorded output is checked."
    )


class EqualsCheck(OutputCheck):
    """The output is exactly `value`."""

    kind: Literal["equals"]
    value: Text


class ContainsCheck(OutputCheck):
    """The output contains `value`."""

    kind: Literal["contains"]
    value: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    case_sensitive: bool = True


class NotContainsCheck(OutputCheck):
    """The output does not contain `value`."""

    kind: Literal["not_contains"]
    value: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    case_sensitive: bool = True


Values = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]], Field(min_length=1, max_length=MAX_VALUES)
]


class ContainsAnyCheck(OutputCheck):
    """The output contains at least one of `values`."""

    kind: Literal["contains_any"]
    values: Values
    case_sensitive: bool = True


class ContainsAllCheck(OutputCheck):
    """The output contains every one of `values`."""

    kind: Literal["contains_all"]
    values: Values
    case_sensitive: bool = True


class RegexCheck(OutputCheck):
    """A Python `re` search of `pattern` in the output finds a match, within a 100 ms budget."""

    kind: Literal["regex"]
    pattern: Annotated[str, Field(min_length=1, max_length=2_000)]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        # Compiled by both: `re` decides what the syntax is, `regex` (which has a timeout) runs the search.
        try:
            re.compile(pattern)
            regex.compile(pattern)
        except (re.error, regex.error, OverflowError, RecursionError, ValueError) as exc:
            raise invalid(f"{{field}} is not a valid regular expression: {exc}.") from None
        return pattern


class JsonValidCheck(OutputCheck):
    """The output parses as JSON."""

    kind: Literal["json_valid"]


class JsonSchemaCheck(OutputCheck):
    """The output is JSON valid under `schema` (JSON Schema Draft 2020-12; `$ref` within the schema)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_alias=True, validate_by_name=True)

    kind: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema", description="A JSON Schema (Draft 2020-12).")

    @field_validator("schema_")
    @classmethod
    def _is_a_schema(cls, schema: dict) -> dict:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise invalid(
                f"{{field}} is not a valid JSON Schema{f' at /{where}' if where else ''}: {exc.message}."
            ) from None
        return schema


class JsonFieldEqualsCheck(OutputCheck):
    """The output is JSON whose field at `path` equals `value`."""

    kind: Literal["json_field_equals"]
    path: JsonPointer
    value: Any = Field(description="Any JSON value; compared as JSON (1 equals 1.0, true does not equal 1).")


class MaxLengthCheck(OutputCheck):
    """The output is at most `value` characters long."""

    kind: Literal["max_length"]
    value: Annotated[int, Field(ge=0)]


class SimilarToOriginalCheck(OutputCheck):
    """The output's words are at least `min_ratio` similar to the original's (Indel similarity, in [0, 1])."""

    kind: Literal["similar_to_original"]
    min_ratio: Annotated[float, Field(ge=0, le=1)]


class JsonFieldsUnchangedCheck(OutputCheck):
    """The output's JSON fields at `paths` equal the original's."""

    kind: Literal["json_fields_unchanged"]
    paths: Annotated[list[JsonPointer], Field(min_length=1, max_length=MAX_VALUES)]


class ToolCallsUnchangedCheck(CheckBase):
    """The same tool calls as the original's, same names and arguments, in order (of the node, or of the run)."""

    kind: Literal["tool_calls_unchanged"]


class MaxCostUsdCheck(CheckBase):
    """The cost of the node (or of the run) is at most `value` US dollars; an unknown cost is n/a."""

    kind: Literal["max_cost_usd"]
    value: Annotated[float, Field(ge=0)]


class MaxLatencyMsCheck(CheckBase):
    """The node's latency (or the run's duration) is at most `value` milliseconds; unknown is n/a."""

    kind: Literal["max_latency_ms"]
    value: Annotated[int, Field(ge=0)]


class MaxOutputTokensCheck(CheckBase):
    """The node's (or the run's) output tokens are at most `value`; unknown is n/a."""

    kind: Literal["max_output_tokens"]
    value: Annotated[int, Field(ge=0)]


KINDS: tuple[type[CheckBase], ...] = (
    EqualsCheck,
    ContainsCheck,
    NotContainsCheck,
    ContainsAnyCheck,
    ContainsAllCheck,
    RegexCheck,
    JsonValidCheck,
    JsonSchemaCheck,
    JsonFieldEqualsCheck,
    MaxLengthCheck,
    SimilarToOriginalCheck,
    JsonFieldsUnchangedCheck,
    ToolCallsUnchangedCheck,
    MaxCostUsdCheck,
    MaxLatencyMsCheck,
    MaxOutputTokensCheck,
)
KIND_NAMES: tuple[str, ...] = tuple(k.model_fields["kind"].annotation.__args__[0] for k in KINDS)  # type: ignore[union-attr]
# Checked against the original (the base run): on the base itself they are n/a.
AGAINST_ORIGINAL = frozenset({"similar_to_original", "json_fields_unchanged", "tool_calls_unchanged"})

Check = Annotated[
    EqualsCheck
    | ContainsCheck
    | NotContainsCheck
    | ContainsAnyCheck
    | ContainsAllCheck
    | RegexCheck
    | JsonValidCheck
    | JsonSchemaCheck
    | JsonFieldEqualsCheck
    | MaxLengthCheck
    | SimilarToOriginalCheck
    | JsonFieldsUnchangedCheck
    | ToolCallsUnchangedCheck
    | MaxCostUsdCheck
    | MaxLatencyMsCheck
    | MaxOutputTokensCheck,
    Field(discriminator="kind"),
]
Checks = Annotated[list[Check], Field(min_length=1, max_length=MAX_CHECKS)]


class ChecksBody(BaseModel):
    """`POST …/runs/<run_id>/checks`: the checks, and the run to pair with (the compare endpoint's `with`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, validate_by_name=True)

    checks: Checks
    with_: str | None = Field(
        default=None,
        alias="with",
        max_length=36,
        description="Another run of the same workflow (base = this run). Without it, base is the run this one replays.",
    )


class CheckOutcome(BaseModel):
    """One check on one run: pass, fail, or n/a (it could not be evaluated, e.g. an unknown cost), and why."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["pass", "fail", "n/a"]
    detail: str


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Check
    base: CheckOutcome
    other: CheckOutcome
    regression: bool = Field(
        description="The other run fails a check the base passes (or, for a check against the original, fails it)."
    )


class CheckResults(BaseModel):
    """Each check on both runs, in the order declared. Nothing is stored and no model is called."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(description="The base run's id: the original the checks against the original compare with.")
    other: str = Field(description="The other run's id.")
    results: list[CheckResult]
