"""The client's address, as the login throttle keys on it (django-ratelimit's RATELIMIT_IP_META_KEY)."""

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR, or behind the TLS proxy the address the trusted proxies report in X-Forwarded-For.

    Each proxy appends the address it received the request from, so with N trusted proxies the client is the
    N-th entry from the right; entries further left are whatever the client sent and are ignored. A header
    shorter than that or not an address means the request did not come through the proxies: REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not settings.BEHIND_TLS_PROXY or proxies < 1:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote
