"""POST/GET/DELETE /api/v1/<slug>/webhooks: workspace admins register the endpoints events are delivered to."""

from django.db.models import Prefetch
from django.http import HttpResponse
from django.urls import reverse

from runs.http.api import answer, api_view, created, json_body
from runs.http.errors import NotFound
from runs.models import Role

from .models import Attempt, Delivery, Endpoint
from .services import register_endpoint
from .shapes import WebhookCreated, WebhookDetail, WebhookList

LATEST_DELIVERIES = 50


def endpoint_dict(endpoint: Endpoint) -> dict:
    return {
        "endpoint_id": endpoint.endpoint_id,
        "url": endpoint.url,
        "events": endpoint.events,
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "created_at": endpoint.created_at,
    }


# Reading endpoints shows where a workspace's data goes: admins only, as writing them.
@api_view(("GET", "POST"), role=Role.ADMIN, read_role=Role.ADMIN)
def webhooks(request, membership):
    if request.method == "POST":
        endpoint = register_endpoint(workspace=membership.workspace, user=request.user, data=json_body(request))
        response = answer(WebhookCreated, {**endpoint_dict(endpoint), "secret": endpoint.secret}, status=201)
        return created(
            response, reverse(webhook, kwargs={"slug": membership.workspace.slug, "endpoint_id": endpoint.endpoint_id})
        )
    endpoints = Endpoint.objects.filter(workspace=membership.workspace).order_by("created_at", "id")
    return answer(WebhookList, {"webhooks": [endpoint_dict(e) for e in endpoints]})


@api_view(("GET", "DELETE"), role=Role.ADMIN, read_role=Role.ADMIN)
def webhook(request, membership, endpoint_id):
    endpoint = Endpoint.objects.filter(workspace=membership.workspace, endpoint_id=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} was not found.")
    if request.method == "DELETE":
        endpoint.delete()
        return HttpResponse(status=204)
    deliveries = (
        Delivery.objects.filter(endpoint=endpoint)
        .prefetch_related(Prefetch("attempts", queryset=Attempt.objects.order_by("attempted_at", "id")))
        .order_by("-created_at", "-id")[:LATEST_DELIVERIES]
    )
    rows = [
        {
            "webhook_id": d.webhook_id,
            "event": d.event,
            "status": d.status,
            "created_at": d.created_at,
            "delivered_at": d.delivered_at,
            "attempts": [
                {
                    "attempted_at": a.attempted_at,
                    "status_code": a.status_code,
                    "duration_ms": a.duration_ms,
                    "response_excerpt": a.response_excerpt,
                    "error": a.error,
                }
                for a in d.attempts.all()
            ],
        }
        for d in deliveries
    ]
    return answer(WebhookDetail, {**endpoint_dict(endpoint), "deliveries": rows})
