from datetime import datetime

from pydantic import Field

from runs.http.openapi import Closed

from .models import Event


class WebhookEndpoint(Closed):
    endpoint_id: str
    url: str
    events: list[Event]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str = Field(description="Why it was disabled, e.g. after failing for 24 hours; empty otherwise.")
    failing_since: datetime | None = Field(description="The first failed attempt since the last success.")
    created_at: datetime


class WebhookCreated(WebhookEndpoint):
    """The endpoint just registered, with its signing secret: shown this once, never again."""

    secret: str = Field(
        description="`whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks)."
    )


class WebhookList(Closed):
    webhooks: list[WebhookEndpoint]


class WebhookAttempt(Closed):
    attempted_at: datetime
    status_code: int | None = Field(description="null when no answer came (refused, timed out, unreachable).")
    duration_ms: int
    response_excerpt: str
    error: str


class WebhookDelivery(Closed):
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    event: Event
    status: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[WebhookAttempt]


class WebhookDetail(WebhookEndpoint):
    """An endpoint with its latest deliveries (newest first) and every attempt of each."""

    deliveries: list[WebhookDelivery]
