"""An LLM node's options (system, temperature, top_p, stop, max_tokens): declared once, validated, sent as written."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, WithJsonSchema, field_validator

from .providers import DEFAULT_MAX_TOKENS
from .templating import PLACEHOLDER

MAX_SYSTEM_CHARS = 100_000
MAX_STOP_SEQUENCES = 4  # OpenAI's limit, the stricter of the two providers
MAX_STOP_CHARS = 100
MAX_OUTPUT_TOKENS = 128_000

Number = StrictInt | StrictFloat
StopSequence = Annotated[StrictStr, Field(min_length=1, max_length=MAX_STOP_CHARS)]

# Each option's rule, in the words of the 400 that names it.
RULES = {
    "system": f"must be a template string of at most {MAX_SYSTEM_CHARS:,} characters using trigger.* or nodes.<node_id>.output",
    "temperature": "must be a number from 0 to 2",
    "top_p": "must be a number greater than 0 and at most 1",
    "stop": f"must be a string or a list of at most {MAX_STOP_SEQUENCES} non-empty strings of at most {MAX_STOP_CHARS} characters",
    "max_tokens": f"must be a whole number from 1 to {MAX_OUTPUT_TOKENS:,}",
}


class LlmOptions(BaseModel):
    """What an `llm` node may set beside its prompt and model; unset options are not sent to the provider."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    system: Annotated[StrictStr, Field(max_length=MAX_SYSTEM_CHARS)] = ""
    # A bound on a union is written as pydantic's own ge/le keys: the schema is given in JSON Schema's words.
    temperature: (
        Annotated[Number, Field(ge=0, le=2), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 2})] | None
    ) = None
    top_p: (
        Annotated[Number, Field(gt=0, le=1), WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 1})]
        | None
    ) = None
    stop: Annotated[list[StopSequence], Field(max_length=MAX_STOP_SEQUENCES)] = []
    max_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_OUTPUT_TOKENS)] = DEFAULT_MAX_TOKENS

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("system")
    @classmethod
    def _placeholders_are_known(cls, value: str) -> str:
        for match in PLACEHOLDER.finditer(value):
            if match.group(1).split(".")[0] not in ("trigger", "nodes"):
                raise ValueError("unknown template variable")
        return value

    def config(self) -> dict:
        """As stored in the node's config: the options it set, and max_tokens always."""
        return self.model_dump(exclude_defaults=True) | {"max_tokens": self.max_tokens}


def options_of(config: dict) -> LlmOptions:
    """A node's options as the executor sends them (a version made before options existed gets the defaults)."""
    return LlmOptions.model_validate(config.get("options", {}))
