"""The description of the webhooks API, beside its URLs in config/urls.py."""

from runs.http.openapi import SAME_WORKSPACE, Link, Operation

from . import api
from .services import EndpointInput
from .shapes import WebhookCreated, WebhookDetail, WebhookList

TAG = "Webhooks"
ADMINS = {403: "Only workspace admins read and change webhook endpoints."}

OPERATIONS = [
    Operation(
        api.webhooks,
        "POST",
        "createWebhook",
        "Register a webhook endpoint (admins)",
        TAG,
        status=201,
        body=EndpointInput,
        response=WebhookCreated,
        errors={
            **ADMINS,
            400: "A field is malformed, or the URL is refused by the outbound guard (a loopback or private address "
            "that `TOOL_HTTP_ALLOWED_HOSTS` does not list): `error.field` names it.",
        },
        description="Events are delivered after the run's final transition commits, as JSON "
        "(`type`, `delivery_id`, `timestamp`, `data`), signed in the Standard Webhooks headers (`webhook-id`, "
        "`webhook-timestamp`, `webhook-signature`) with the secret this answer shows once. A non-2xx answer or a "
        "timeout is retried with exponential backoff for 24 hours under the same `webhook-id`; an endpoint failing "
        "for 24 hours is disabled.",
    ),
    Operation(
        api.webhooks,
        "GET",
        "listWebhooks",
        "The workspace's webhook endpoints (admins)",
        TAG,
        response=WebhookList,
        errors=ADMINS,
    ),
    Operation(
        api.webhook,
        "GET",
        "getWebhook",
        "A webhook endpoint with its latest deliveries and their attempts (admins)",
        TAG,
        response=WebhookDetail,
        errors={**ADMINS, 404: "No such webhook endpoint in this workspace."},
    ),
    Operation(
        api.webhook,
        "DELETE",
        "deleteWebhook",
        "Delete a webhook endpoint (admins)",
        TAG,
        status=204,
        errors={**ADMINS, 404: "No such webhook endpoint in this workspace."},
    ),
]

ENDPOINT = {**SAME_WORKSPACE, "path.endpoint_id": "$response.body#/endpoint_id"}
LINKS = [
    Link("createWebhook", "getWebhook", ENDPOINT),
    Link("createWebhook", "deleteWebhook", ENDPOINT),
]
