"""The tool registry. Each tool declares whether it mutates the outside world."""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import IntegrityError

from runs.jsonvalues import MAX_DEPTH

from . import outbound


class ToolError(Exception):
    pass


@dataclass(frozen=True)
class ToolContext:
    run_id: str
    workspace_id: int
    node_id: str


@dataclass(frozen=True)
class Tool:
    name: str
    mutating: bool
    call: Callable[[dict, ToolContext], dict]
    # Reads or writes Reprise's own tables: called on the run's own thread and database connection, never in
    # the pool of concurrent steps (whose threads hold no connection).
    uses_database: bool = False


def _arg(args: dict, name: str, kind=str):
    if name not in args:
        raise ToolError(f"missing argument '{name}'")
    value = args[name]
    if kind is not None and not isinstance(value, kind):
        raise ToolError(f"argument '{name}' must be a {kind.__name__}")
    return value


def records_lookup(args, ctx):
    from runs.models import Record

    kind, key = _arg(args, "kind"), str(_arg(args, "key", None))
    record = Record.objects.filter(workspace_id=ctx.workspace_id, kind=kind, key=key).first()
    return {"found": record is not None, "data": record.data if record else None}


def records_create(args, ctx):
    from runs.models import Record

    kind, data = _arg(args, "kind"), _arg(args, "data", dict)
    key = str(data.get("key") or uuid.uuid4().hex[:12])
    # One record per (run, node): a redelivered task finds the row instead of writing a second.
    try:
        record, _ = Record.objects.get_or_create(
            run_id=ctx.run_id,
            node_id=ctx.node_id,
            defaults={"workspace_id": ctx.workspace_id, "kind": kind, "key": key, "data": data},
        )
    except IntegrityError:  # (workspace, kind, key) is unique: another run, or a replay invoking it again, made it
        raise ToolError(
            f"records.create: a {kind!r} record with key {key!r} already exists in this workspace"
        ) from None
    return {"created": True, "kind": record.kind, "key": record.key}


def messages_send(args, ctx):
    from runs.models import OutboxMessage

    to, body = _arg(args, "to"), _arg(args, "body", None)
    message, _ = OutboxMessage.objects.get_or_create(
        run_id=ctx.run_id,
        node_id=ctx.node_id,
        defaults={"workspace_id": ctx.workspace_id, "to": to, "body": body if isinstance(body, str) else str(body)},
    )
    return {"sent": True, "message_id": message.pk, "to": to}


def _http_result(answer: outbound.Answer) -> dict:
    """The answer's JSON, or its text (the first 10,000 characters) when it is not JSON."""
    try:
        body = json.loads(answer.content)
    except ValueError:
        body = answer.content.decode(answer.encoding or "utf-8", errors="replace")[:10000]
    except RecursionError:
        raise ToolError(f"answered JSON nested deeper than {MAX_DEPTH} levels") from None
    return {"status": answer.status, "body": body}


def _http(tool: str, method: str, args: dict, payload=None) -> dict:
    url = _arg(args, "url")
    try:
        answer = outbound.fetch(
            method, url, json=payload, timeout=settings.HTTP_TOOL_TIMEOUT, max_bytes=settings.HTTP_TOOL_MAX_BYTES
        )
        return _http_result(answer)
    except outbound.Refused as exc:
        raise ToolError(f"{tool} refused {exc}") from None
    except (outbound.TooLarge, outbound.TooSlow) as exc:
        raise ToolError(f"{tool} {url}: {exc}") from None
    except ToolError as exc:
        raise ToolError(f"{tool} {url}: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ToolError(f"{tool} failed: {exc}") from None


def http_get(args, ctx):
    return _http("http.get", "GET", args)


def http_post(args, ctx):
    return _http("http.post", "POST", args, payload=args.get("json"))


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("records.lookup", False, records_lookup, uses_database=True),
        Tool("records.create", True, records_create, uses_database=True),
        Tool("messages.send", True, messages_send, uses_database=True),
        Tool("http.get", False, http_get),
        Tool("http.post", True, http_post),
    )
}
