"""The domain's side of the framework's gate: a bearer token's user and a user's membership of a workspace."""

from datetime import timedelta

from django.utils import timezone

from runs.access import NOT_A_MEMBER, get_membership
from runs.http.api import Unauthorized, bearer_token
from runs.http.gate import Gate
from runs.models import ApiToken

from .token_membership import token_membership


def _touch(token_pk: int, last_used_at) -> None:
    """Record use at most every 5 minutes: a write per request would cost every API call a commit."""
    now = timezone.now()
    if last_used_at is None or now - last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token_pk).update(last_used_at=now)


def authenticate(request):
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=ApiToken.hash(bearer_token(request)), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        raise Unauthorized("This API token is unknown or revoked.")
    _touch(row.pk, row.last_used_at)
    return row.user


def api_membership(request, slug: str, outsider_message: str | None):
    """The token's user and their membership of `slug` in one query; a miss asks again to say which (401 or 403)."""
    outsider_message = outsider_message or NOT_A_MEMBER
    found = token_membership(slug, ApiToken.hash(bearer_token(request)))
    if found is None:
        return (user := authenticate(request)), get_membership(user, slug, outsider_message=outsider_message)
    membership, token_pk, last_used_at = found
    _touch(token_pk, last_used_at)
    return membership.user, membership


def web_membership(user, slug: str, outsider_message: str | None):
    return get_membership(user, slug, outsider_message=outsider_message or NOT_A_MEMBER)


GATE = Gate(api_membership=api_membership, web_membership=web_membership)
