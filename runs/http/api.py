"""The JSON API's plumbing: bearer tokens, JSON bodies, and the one place errors become responses."""

import functools
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils.http import parse_etags
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from .errors import BadRequest, Forbidden, Rejected
from .gate import gate
from .input import parse_json

log = logging.getLogger(__name__)

# By role name (the domain's Role values): the least role a write needs.
ROLE_NEEDED = {
    "viewer": "Only members of this workspace can do this.",
    "operator": "Viewers cannot change anything in this workspace; ask for the operator role.",
    "admin": "Only workspace admins can change this.",
}
# A read refused for the role: what only admins may see (where a workspace's data goes, its secrets' endpoints).
READ_ROLE_NEEDED = {"admin": "Only workspace admins can see this."}


class Unauthorized(Rejected):
    code = "unauthorized"

    def __init__(self, message: str):
        # RFC 6750: a 401 names the scheme the client must use.
        super().__init__(401, message, headers={"WWW-Authenticate": 'Bearer realm="Reprise API"'})


def answer(shape: type[BaseModel], data: BaseModel | Mapping[str, Any], *, status: int = 200) -> JsonResponse:
    """A JSON answer through its declared shape, the one the OpenAPI document is generated from.

    Shapes are closed: a key the declaration lacks fails here (a 500 in every test), never reaches a client.
    """
    value = data if isinstance(data, shape) else shape.model_validate(data)
    return JsonResponse(value.model_dump(mode="json"), status=status)


def with_etag(request, response: HttpResponse) -> HttpResponse:
    """An ETag of the answer's bytes; a request whose If-None-Match names it gets a 304 without a body."""
    etag = f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'
    known = parse_etags(request.headers.get("If-None-Match", ""))
    if etag in known or "*" in known:
        response = HttpResponseNotModified()
    response["ETag"] = etag
    return response


def error_response(exc: Rejected) -> JsonResponse:
    return exc.carried_by(JsonResponse(exc.as_dict(), status=exc.status))


def bearer_token(request) -> str:
    """The token of `Authorization: Bearer <token>`; 401 without one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authentication required: send Authorization: Bearer <token>.")
    return token.strip()


def json_body(request) -> dict:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise Rejected(413, "Request body too large.", code="too_large") from None
    if not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise BadRequest("The JSON body must be an object.")
    return data


def allowed_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """HEAD wherever GET is allowed."""
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods


def method_refusal(request, methods: tuple[str, ...]) -> JsonResponse | None:
    """The API's own 405, with Allow, for a method the route does not take; None when it takes it."""
    allowed = allowed_methods(methods)
    if request.method in allowed:
        return None
    response = JsonResponse(
        {"error": {"code": "method_not_allowed", "message": f"Use {' or '.join(methods)}."}}, status=405
    )
    response["Allow"] = ", ".join(allowed)
    return response


def head_as_get(request, respond) -> HttpResponse:
    """A HEAD is answered as its GET would be, with the same headers (Content-Length, ETag) and no body."""
    if request.method != "HEAD":
        return respond()
    request.method = "GET"
    try:
        response = respond()
    finally:
        request.method = "HEAD"
    if response.streaming:
        response.streaming_content = iter(())  # the stream is never read
    else:
        length = len(response.content)
        response.content = b""
        response["Content-Length"] = str(length)
    return response


def created(response: HttpResponse, location: str) -> HttpResponse:
    """A 201 names where the new resource is read."""
    response["Location"] = location
    return response


def api_view(
    methods: tuple[str, ...], *, role: str = "viewer", read_role: str = "viewer", outsider_message: str | None = None
):
    """Authenticate, resolve the workspace membership, check the role, and translate errors.

    role is the least role needed for the write methods, read_role for the safe ones (membership by default).
    """

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            if (refused := method_refusal(request, methods)) is not None:
                return refused
            try:
                user, membership = gate().api_membership(request, slug, outsider_message)
                if request.method in ("GET", "HEAD"):
                    if not membership.has_role(read_role):
                        raise Forbidden(READ_ROLE_NEEDED[read_role])
                elif not membership.has_role(role):
                    raise Forbidden(ROLE_NEEDED[role])
                request.user = user
                return head_as_get(request, lambda: view(request, membership, *args, **kwargs))
            except Rejected as exc:
                return head_as_get(request, functools.partial(error_response, exc))

        return wrapper

    return decorator


def iso(dt):
    """A time as every answer writes it: pydantic's own form, so a dict written ahead (an export line) and an answer
    through its declared shape agree to the character."""
    return to_jsonable_python(dt) if dt else None
