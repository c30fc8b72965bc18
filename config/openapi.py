"""The OpenAPI 3.1 document of /api/v1/, assembled once from the operations each app declares, and its two pages.

The paths and path parameters are read from the URL patterns, so an operation can only be described where
it is routed. Reading the description needs no token: it holds no workspace data, and clients fetch it to
generate code before they have one.
"""

import functools
import json
import re

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.decorators.csrf import csrf_exempt

from mappings.openapi import OPERATIONS as MAPPING_OPERATIONS
from replay.cohorts.openapi import LINKS as COHORT_LINKS
from replay.cohorts.openapi import OPERATIONS as COHORT_OPERATIONS
from replay.openapi import LINKS as REPLAY_LINKS
from replay.openapi import OPERATIONS as REPLAY_OPERATIONS
from runs.api.openapi import LINKS as RUN_LINKS
from runs.api.openapi import OPERATIONS as RUN_OPERATIONS
from runs.api.views import no_such_endpoint
from runs.http.api import head_as_get, method_refusal
from runs.http.openapi import CONVERTER_SCHEMAS, Route, build_document
from webhooks.openapi import LINKS as WEBHOOK_LINKS
from webhooks.openapi import OPERATIONS as WEBHOOK_OPERATIONS

PREFIX = "api/v1/"
OPERATIONS = [*RUN_OPERATIONS, *REPLAY_OPERATIONS, *COHORT_OPERATIONS, *MAPPING_OPERATIONS, *WEBHOOK_OPERATIONS]
LINKS = [*RUN_LINKS, *REPLAY_LINKS, *COHORT_LINKS, *WEBHOOK_LINKS]
DESCRIPTION = (
    "Replay finished AI workflow runs without repeating their side effects. Every refusal answers "
    '`{"error": {"code", "message", "field"?}}` with the HTTP status of the rule that answered.'
)


PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def api_routes() -> dict:
    """Every view routed under /api/v1/ (but the description's own pages and the 404), with its OpenAPI path."""
    routes = {}
    for route, view in _walk(get_resolver().url_patterns):
        if not route.startswith(PREFIX) or view in (openapi_json, docs, no_such_endpoint):
            continue
        if view in routes:
            raise ValueError(f"{view.__name__} is routed twice under /{PREFIX}: its operations would be ambiguous.")
        parameters = {m["name"]: CONVERTER_SCHEMAS[m["converter"] or "str"] for m in PARAMETER.finditer(route)}
        routes[view] = Route(path="/" + PARAMETER.sub(r"{\g<name>}", route), parameters=parameters)
    return routes


@functools.cache
def document() -> dict:
    return build_document(
        title="Reprise API",
        version="1",
        description=DESCRIPTION,
        routes=api_routes(),
        operations=OPERATIONS,
        links=LINKS,
    )


@functools.cache
def _document_bytes() -> bytes:
    return json.dumps(document(), indent=1).encode()


@csrf_exempt
def openapi_json(request):
    """Public, GET or HEAD; any other method gets the API's JSON 405, never the HTML CSRF page."""
    if (refused := method_refusal(request, ("GET",))) is not None:
        return refused
    return head_as_get(request, lambda: HttpResponse(_document_bytes(), content_type="application/json"))


@csrf_exempt
def docs(request):
    if (refused := method_refusal(request, ("GET",))) is not None:
        return refused
    return head_as_get(request, lambda: render(request, "api/docs.html", reference()))


# The reference page: the document turned into rows a template lists. Types are token lists so that
# the template, not Python, builds the links to the schemas.


def _type(schema: dict) -> list[dict]:
    """A schema as readable tokens: [{"text": "list of "}, {"text": "Step", "ref": "Step"}]."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return [{"text": name, "ref": name}]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            tokens: list[dict] = []
            for i, option in enumerate(schema[key]):
                tokens += ([{"text": " | "}] if i else []) + _type(option)
            return tokens
    if "const" in schema:
        return [{"text": json.dumps(schema["const"])}]
    if "enum" in schema:
        return [{"text": " | ".join(json.dumps(v) for v in schema["enum"])}]
    kind = schema.get("type", "any")
    if kind == "array":
        return [{"text": "list of "}, *_type(schema.get("items", {}))]
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return [{"text": "object of "}, *_type(schema["additionalProperties"])]
    text = kind if isinstance(kind, str) else " | ".join(kind)
    extra = [f"{k} {schema[k]}" for k in ("pattern", "format", "minimum", "minItems", "maxItems") if k in schema]
    return [{"text": text + (f" ({', '.join(extra)})" if extra else "")}]


def _prose(text: str) -> list[dict]:
    """Markdown's `code` spans as tokens: [{"text": "Send "}, {"text": "mode", "code": True}]."""
    return [{"text": part, "code": i % 2 == 1} for i, part in enumerate(text.split("`")) if part]


def _content_type(content: dict | None) -> list[dict]:
    """The type of a body: JSON's, or a JSON Lines answer's (each line's type, named so)."""
    if not content:
        return []
    media_type, entry = next(iter(content.items()))
    if media_type == "application/json":
        return _type(entry["schema"])
    return [{"text": f"{media_type}, each line "}, *_type(entry["schema"].get("contentSchema", entry["schema"]))]


@functools.cache
def reference() -> dict:
    doc = document()
    tags: dict[str, list[dict]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody")
            tags.setdefault(op["tags"][0], []).append(
                {
                    "id": op["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": op["summary"],
                    "description": _prose(op.get("description", "")),
                    "parameters": [
                        {**p, "type": _type(p["schema"]), "description": _prose(p.get("description", ""))}
                        for p in op["parameters"]
                    ],
                    "body": {"required": body["required"], "type": _content_type(body["content"])} if body else None,
                    "responses": [
                        {
                            "status": status,
                            "description": _prose(r["description"]),
                            "type": _content_type(r.get("content")),
                        }
                        for status, r in op["responses"].items()
                    ],
                }
            )
    schemas = []
    for name, schema in doc["components"]["schemas"].items():
        required = set(schema.get("required", ()))
        schemas.append(
            {
                "name": name,
                "description": _prose(schema.get("description", "")),
                "type": _type({k: v for k, v in schema.items() if k != "properties"})
                if "properties" not in schema
                else [],
                "properties": [
                    {
                        "name": prop,
                        "type": _type(sub),
                        "required": prop in required,
                        "description": _prose(sub.get("description", "")),
                    }
                    for prop, sub in schema.get("properties", {}).items()
                ],
            }
        )
    info = {**doc["info"], "description": _prose(doc["info"]["description"])}
    return {"info": info, "tags": tags, "schemas": schemas}
