"""The OpenAPI description's building blocks: each app declares its operations, config assembles the document.

An operation names its view (so its path and path parameters come from the URL patterns), its method,
the pydantic models it reads and answers with, and the statuses it can answer. Nothing here runs per request.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"
AUTHENTICATED = {
    401: "No bearer token, or an unknown or revoked one.",
    403: "The token's user is not a member of this workspace, or their role does not allow this.",
}
# Any path whose parameters do not match the URL patterns (e.g. a slug with a space) gets the API's own 404.
NO_ENDPOINT = "no API endpoint at this path (a path parameter is malformed)"
WITH_BODY = {
    400: "The body is not a JSON object, or a field is missing or malformed: `error.field` names it.",
    413: "The body is larger than the server accepts.",
}
# The `error.code` each status answers unless an operation declares its own (Operation.codes).
DEFAULT_CODES: dict[int, tuple[str, ...]] = {
    400: ("bad_request",),
    401: ("unauthorized",),
    403: ("forbidden",),
    404: ("not_found",),
    409: ("conflict",),
    413: ("too_large",),
}
# Path parameters of the URL patterns, by name; a name not here is described by its converter alone.
PATH_PARAMETERS = {
    "slug": "The workspace's slug, e.g. `acme`.",
    "run_id": "A run id: `run_` followed by hex digits, e.g. `run_8f2c1a90`.",
    "workflow_id": "A workflow id, e.g. `wf_ac3e0001`.",
    "artifact_id": "A prompt artifact id: `prompt_` followed by 8 hex digits.",
    "number": "A workflow version number.",
    "cohort_id": "A cohort id: `cohort_` followed by 12 hex digits.",
    "endpoint_id": "A webhook endpoint id: `whk_` followed by 12 hex digits.",
    "content_hash": "A prompt revision's hash: `sha256:` followed by 64 hex digits.",
}
CONVERTER_SCHEMAS: dict[str, dict] = {
    "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
    "int": {"type": "integer", "minimum": 0},
    "str": {"type": "string", "pattern": "^[^/]+$"},
}


class Closed(BaseModel):
    """An answer's shape: its schema is closed (`additionalProperties: false`), so an undeclared key cannot be sent."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Closed):
    code: str
    message: str
    field: str | None = None
    nodes: list[str] | None = Field(
        default=None, description="The nodes the refusal is about: for `confirm_invoke`, the calls it would invoke."
    )
    suggestions: dict[str, dict] | None = Field(
        default=None,
        description="For `unmapped_nodes`: each unmapped node's suggested targets, shaped as the replay plan's "
        "`suggestions`.",
    )


class Error(Closed):
    """Every refusal: `{"error": {"code", "message", "field"?}}` with the HTTP status of the rule that answered."""

    error: ErrorDetail


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    schema: dict


@dataclass(frozen=True)
class Operation:
    """One method on one routed view, as the description shows it."""

    view: Callable
    method: str
    operation_id: str
    summary: str
    tag: str
    status: int = 200
    response: type[BaseModel] | None = None
    # The success answer's media type; a sequential one (JSON Lines) has `response` describe each line.
    media_type: str = "application/json"
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    query_required: bool = False
    headers: tuple[Header, ...] = ()
    # Other successful answers (status -> description), e.g. an idempotent retry's 200.
    also: Mapping[int, str] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)
    # The `error.code`s a status answers, where they are not DEFAULT_CODES' (e.g. the replay rules' own).
    codes: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    def error_codes(self, status: int) -> tuple[str, ...]:
        return self.codes.get(status) or DEFAULT_CODES.get(status, ())

    def error_statuses(self) -> dict[int, str]:
        statuses = dict(AUTHENTICATED)
        if self.body is not None:
            statuses.update(WITH_BODY)
        statuses.update(self.errors)
        own = statuses.get(404)
        statuses[404] = (
            f"{own.rstrip('.')}; or {NO_ENDPOINT}." if own else NO_ENDPOINT[0].upper() + NO_ENDPOINT[1:] + "."
        )
        return dict(sorted(statuses.items()))


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: what a successful answer of `source` lets a client call next, e.g. the run it created.

    Declared by the app that owns the target, so runs never names replay's operations.
    """

    source: str
    target: str
    parameters: Mapping[str, str]
    status: int | None = None  # the source's success status by default
    body: Any = None

    @property
    def name(self) -> str:
        return self.target


SAME_WORKSPACE = {"path.slug": "$request.path.slug"}


@dataclass(frozen=True)
class Route:
    """A URL pattern as the description needs it: `/api/v1/{slug}/runs/{run_id}` and its parameter schemas."""

    path: str
    parameters: dict[str, dict]


def _models(operations: Iterable[Operation]) -> list[tuple[type[BaseModel], Any]]:
    seen: dict[tuple[type[BaseModel], str], None] = {(Error, "serialization"): None}
    for op in operations:
        for model, mode in ((op.body, "validation"), (op.response, "serialization")):
            if model is not None:
                seen[(model, mode)] = None
    return list(seen)


def _without_null(schema: dict) -> dict:
    """An optional query parameter is left out, never null: `int | None` is described as the integer."""
    options = [o for o in schema.get("anyOf", ()) if o != {"type": "null"}]
    if len(options) == 1:
        return {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
    return schema


def _parameters(op: Operation, route: Route) -> list[dict]:
    parameters = [
        {"name": name, "in": "path", "required": True, "description": PATH_PARAMETERS.get(name, ""), "schema": schema}
        for name, schema in route.parameters.items()
    ]
    if op.query is not None:
        # A query model's fields are parameters of their own, inlined: a query string has no nested objects.
        query = op.query.model_json_schema(ref_template=REF)
        if "$defs" in query:
            raise ValueError(f"{op.query.__name__}: a query model must be flat.")
        required = set(query.get("required", ())) if op.query_required else set()
        for name, schema in query["properties"].items():
            schema = _without_null({k: v for k, v in schema.items() if k not in ("title", "default")})
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    for header in op.headers:
        parameters.append(
            {
                "name": header.name,
                "in": "header",
                "required": False,
                "description": header.description,
                "schema": header.schema,
            }
        )
    return parameters


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _body_schema(media_type: str, schema: dict) -> dict:
    """JSON's schema, or for a sequential answer (JSON Lines) a text whose `contentSchema` describes each line.

    Described as the line itself, the stream read as one object: a generated client parsed the whole body as one
    line and failed, even with the generator told to read it as bytes.
    """
    if media_type == "application/json":
        return schema
    return {"type": "string", "contentMediaType": media_type, "contentSchema": schema}


def _responses(op: Operation, schemas: Mapping) -> dict:
    ok: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        ok["content"] = {
            op.media_type: {"schema": _body_schema(op.media_type, schemas[(op.response, "serialization")])}
        }
    elif op.media_type != "application/json":  # a text answer no model describes, e.g. a CSV export
        ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): ok}
    for status, description in op.also.items():
        # A 304 has no body: it says the client's copy (its ETag) is current.
        responses[str(status)] = {"description": description} if status == 304 else {**ok, "description": description}
    error = _json(schemas[(Error, "serialization")])
    for status, description in op.error_statuses().items():
        codes = op.error_codes(status)
        listed = f" `error.code`: {', '.join(f'`{c}`' for c in codes)}." if codes else ""
        responses[str(status)] = {"description": description + listed, "content": error}
        if codes:
            responses[str(status)]["x-error-codes"] = list(codes)
    return responses


def _add_links(paths: dict, operations: list[Operation], links: Iterable[Link]) -> None:
    entries = {entry["operationId"]: entry for item in paths.values() for entry in item.values()}
    statuses = {op.operation_id: op.status for op in operations}
    for link in links:
        if link.source not in entries or link.target not in entries:
            raise LookupError(f"Link {link.source} -> {link.target}: no such operation.")
        response = entries[link.source]["responses"][str(link.status or statuses[link.source])]
        definition: dict[str, Any] = {"operationId": link.target, "parameters": dict(link.parameters)}
        if link.body is not None:
            definition["requestBody"] = link.body
            # schemathesis would otherwise merge generated fields into it; the body is meant as written.
            definition["x-schemathesis"] = {"merge_body": False}
        response.setdefault("links", {})[link.name] = definition


def build_document(
    *,
    title: str,
    version: str,
    description: str,
    routes: Mapping[Callable, Route],
    operations: Iterable[Operation],
    links: Iterable[Link] = (),
) -> dict:
    """The OpenAPI 3.1 document of `operations`, each at the route of its view. Raises on an unrouted operation."""
    operations = list(operations)
    models = _models(operations)
    schemas, definitions = models_json_schema(models, ref_template=REF)
    paths: dict[str, dict] = {}
    ids = Counter(op.operation_id for op in operations)
    if duplicated := [i for i, n in ids.items() if n > 1]:
        raise ValueError(f"operationId declared twice: {', '.join(duplicated)}.")
    for op in operations:
        route = routes.get(op.view)
        if route is None:
            raise LookupError(f"{op.method} {op.summary!r}: its view {op.view!r} is not routed under the API.")
        item = paths.setdefault(route.path, {})
        if op.method.lower() in item:
            raise ValueError(f"{op.method} {route.path} is declared twice.")
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op, route),
            "responses": _responses(op, schemas),
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {"required": op.body_required, "content": _json(schemas[(op.body, "validation")])}
        item[op.method.lower()] = entry
    _add_links(paths, operations, links)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        # Relative: the paths are absolute on whichever host served this document.
        "servers": [{"url": "/", "description": "The Reprise server that served this document."}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`python manage.py create_api_token <username>` prints a token.",
                }
            },
        },
        "security": [{"bearer": []}],
    }
