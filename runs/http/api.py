"""The JSON API's plumbing: bearer tokens, JSON bodies, and the one place errors become responses."""

import functools
import logging
from datetime import timedelta

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from runs.access import NOT_A_MEMBER, get_membership
from runs.models import ApiToken, Role

from .errors import BadRequest, Forbidden, Rejected
from .input import parse_json
from .token_membership import token_membership

log = logging.getLogger(__name__)

ROLE_NEEDED = {
    Role.VIEWER: "Only members of this workspace can do this.",
    Role.OPERATOR: "Viewers cannot change anything in this workspace; ask for the operator role.",
    Role.ADMIN: "Only workspace admins can change this.",
}


class Unauthorized(Rejected):
    code = "unauthorized"

    def __init__(self, message: str):
        super().__init__(401, message)


def error_response(exc: Rejected) -> JsonResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def _bearer_hash(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authentication required: send Authorization: Bearer <token>.")
    return ApiToken.hash(token.strip())


def _touch(token_pk: int, last_used_at) -> None:
    """Record use at most every 5 minutes: a write per request would cost every API call a commit."""
    now = timezone.now()
    if last_used_at is None or now - last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token_pk).update(last_used_at=now)


def authenticate(request):
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_bearer_hash(request), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        raise Unauthorized("This API token is unknown or revoked.")
    _touch(row.pk, row.last_used_at)
    return row.user


def authenticated_membership(request, slug: str, outsider_message: str = NOT_A_MEMBER):
    """The token's user and their membership of `slug` in one query; a miss asks again to say which (401 or 403)."""
    found = token_membership(slug, _bearer_hash(request))
    if found is None:
        return (user := authenticate(request)), get_membership(user, slug, outsider_message=outsider_message)
    membership, token_pk, last_used_at = found
    _touch(token_pk, last_used_at)
    return membership.user, membership


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


def api_view(methods: tuple[str, ...], *, role: Role = Role.VIEWER, outsider_message: str = NOT_A_MEMBER):
    """Authenticate, resolve the workspace membership, check the role, and translate errors.

    role is the least role needed for the write methods; safe methods need membership only.
    """

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            if request.method not in methods:
                response = JsonResponse(
                    {"error": {"code": "method_not_allowed", "message": f"Use {' or '.join(methods)}."}}, status=405
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                user, membership = authenticated_membership(request, slug, outsider_message)
                if request.method not in ("GET", "HEAD") and not membership.has_role(role):
                    raise Forbidden(ROLE_NEEDED[role])
                request.user = user
                return view(request, membership, *args, **kwargs)
            except Rejected as exc:
                return error_response(exc)

        return wrapper

    return decorator


def created(data: dict) -> JsonResponse:
    return JsonResponse(data, status=201)


def iso(dt):
    return dt.isoformat() if dt else None
