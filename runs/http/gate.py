"""What the framework asks of the domain: who is calling, and as which member of the URL's workspace.

The framework knows no domain model; runs.apps registers the domain's answers at start-up (runs.gate).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Gate:
    # (request, slug, outsider message or None) -> (user, membership); raises Rejected (401, 403, 404)
    api_membership: Callable[[Any, str, str | None], tuple[Any, Any]]
    # (user, slug, outsider message or None) -> membership; raises Rejected (403, 404)
    web_membership: Callable[[Any, str, str | None], Any]


_registered: list[Gate] = []


def register(gate: Gate) -> None:
    _registered[:] = [gate]


def gate() -> Gate:
    if not _registered:
        raise ImproperlyConfigured("No gate is registered: the runs app registers it when Django starts.")
    return _registered[0]
