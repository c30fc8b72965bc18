"""Registering webhook endpoints, emitting events to them, and delivering each with retries."""

import hashlib
import json
import time
from datetime import timedelta
from functools import cache
from typing import Annotated, Literal

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import AfterValidator, Field, StrictStr

from runs.api.serializers import run_dict
from runs.api.shapes import RunSummary
from runs.engine import outbound
from runs.http.errors import BadRequest
from runs.http.input import Input, parse
from runs.models import Run, Workspace
from runs.prepared import hot_cursor

from .models import Attempt, Delivery, Endpoint, Event
from .signing import signed_headers

RUN_EVENTS: dict[str, str] = {
    Run.Status.COMPLETED: Event.RUN_COMPLETED,
    Run.Status.FAILED: Event.RUN_FAILED,
    Run.Status.CANCELLED: Event.RUN_CANCELLED,
}
EXCERPT_CHARS = 1000
MAX_RETRY_DELAY = 2 * 3600  # seconds: the backoff doubles up to this, for WEBHOOK_RETRY_FOR in all
DISABLED_REASON = "Disabled after failing for 24 hours: no attempt succeeded since {since}."


class EndpointEvents(Input):
    # Each event once, in the order given: an endpoint is sent an event once however often it is named.
    events: Annotated[
        list[Literal[tuple(Event.values)]],  # type: ignore[valid-type]
        Field(min_length=1),
        AfterValidator(lambda events: list(dict.fromkeys(events))),
    ]


class EndpointInput(EndpointEvents):
    url: Annotated[StrictStr, Field(max_length=2000, description="An http or https URL the outbound guard allows.")]


def endpoint_events(value) -> list[str]:
    """The events an endpoint is sent, as the API declares them, each once; a BadRequest naming the rule otherwise."""
    return parse(EndpointEvents, {"events": value}).events


def register_endpoint(*, workspace: Workspace, user, data: dict) -> Endpoint:
    """A new endpoint; its URL goes through the http tools' outbound guard (TOOL_HTTP_ALLOWED_HOSTS): 400 naming url."""
    fields = parse(EndpointInput, data)
    try:
        outbound.check_url(fields.url)
    except outbound.Refused as exc:
        raise BadRequest(f"url is refused: {exc}.", field="url") from None
    return Endpoint.objects.create(workspace=workspace, url=fields.url, events=fields.events, created_by=user)


def webhook_id_of(event: str, key: str) -> str:
    """The same for every emission of one event (a redelivered task, a second worker): receivers de-duplicate on it."""
    return "msg_" + hashlib.sha256(f"{event}:{key}".encode()).hexdigest()[:32]


def emit(*, workspace_id: int, event: str, key: str, data: dict) -> list[int]:
    """Queue `event` for every enabled endpoint of the workspace that asked for it, after the transaction commits.

    `key` names the event's subject (a run id, a cohort id): emitting the same event twice delivers it once.
    """
    webhook_id = webhook_id_of(event, key)
    body = {"type": event, "delivery_id": webhook_id, "timestamp": timezone.now().isoformat(), "data": data}
    created = []
    with transaction.atomic():
        for endpoint in Endpoint.objects.filter(workspace_id=workspace_id, disabled_at=None):
            if event not in endpoint.events:
                continue
            try:
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        endpoint=endpoint, webhook_id=webhook_id, event=event, payload=body
                    )
            except IntegrityError:
                continue  # emitted before: that delivery goes on
            created.append(delivery.pk)
        if created:
            from .tasks import send_delivery

            def send_all() -> None:
                for pk in created:
                    send_delivery(pk)

            transaction.on_commit(send_all, robust=True)
    return created


@cache
def _listening_sql() -> str:
    return (
        f"SELECT EXISTS (SELECT 1 FROM {Endpoint._meta.db_table} WHERE disabled_at IS NULL AND workspace_id ="
        f" (SELECT workspace_id FROM {Run._meta.db_table} WHERE run_id = %s))"
    )


def listens_for_run(run_id: str) -> bool:
    """Whether the run's workspace has an enabled endpoint (of any event: emit picks the subscribed ones).

    Asked once for every run that finishes: one statement as written (prepared on PostgreSQL), as the ORM's
    compilation of it cost several times its execution (0.8 ms against 0.12 ms a call).
    """
    with hot_cursor() as cursor:
        cursor.execute(_listening_sql(), (run_id,))
        return bool(cursor.fetchone()[0])


def emit_run_finished(run_id: str) -> list[int]:
    """run.completed, run.failed or run.cancelled for a finished run, with its summary as GET /runs/<id> lists it."""
    run = Run.objects.select_related("workspace", "workflow").filter(pk=run_id).first()
    if run is None or run.status not in RUN_EVENTS:
        return []
    summary = RunSummary.model_validate(run_dict(run)).model_dump(mode="json")
    return emit(workspace_id=run.workspace_id, event=RUN_EVENTS[run.status], key=run_id, data={"run": summary})


def emit_cohort_finished(cohort_id: str) -> list[int]:
    """cohort.finished for a finished cohort, with its summary as GET /cohorts lists it."""
    from replay.cohorts.admission import counts_of
    from replay.cohorts.models import Cohort
    from replay.cohorts.reading import summary
    from replay.cohorts.shapes import CohortSummary

    cohort = Cohort.objects.select_related("workflow", "created_by").filter(pk=cohort_id).first()
    if cohort is None or not cohort.is_finished:
        return []
    listed = CohortSummary.model_validate(summary(cohort, counts_of([cohort.pk]))).model_dump(mode="json")
    data = {"cohort": listed}
    return emit(workspace_id=cohort.workspace_id, event=Event.COHORT_FINISHED, key=cohort_id, data=data)


def retry_delay(attempts: int) -> float:
    """Exponential backoff after the n-th failed attempt: WEBHOOK_RETRY_BASE, doubled each time, at most 2 h."""
    return min(settings.WEBHOOK_RETRY_BASE * 2 ** (attempts - 1), MAX_RETRY_DELAY)


def _claim(delivery_id: int) -> Delivery | None:
    """Compare-and-swap: a pending delivery that is due, pushed past this attempt so a second message skips it."""
    now = timezone.now()
    hold = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)
    claimed = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=hold
    )
    if claimed != 1:
        return None
    return Delivery.objects.select_related("endpoint").get(pk=delivery_id)


def _send(delivery: Delivery) -> Attempt:
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = signed_headers(delivery.endpoint.secret, delivery.webhook_id, int(time.time()), body)
    began = time.monotonic()
    status, excerpt, error = None, "", ""
    try:
        answer = outbound.fetch(
            "POST",
            delivery.endpoint.url,
            content=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            max_bytes=64 * 1024,
        )
        status, excerpt = answer.status, answer.content.decode(answer.encoding or "utf-8", "replace")[:EXCERPT_CHARS]
    except (outbound.Refused, outbound.TooSlow, outbound.TooLarge, httpx.HTTPError) as exc:
        error = (str(exc) or type(exc).__name__)[:500]
    duration = int((time.monotonic() - began) * 1000)
    return Attempt(delivery=delivery, status_code=status, duration_ms=duration, response_excerpt=excerpt, error=error)


def redispatch_overdue(limit: int = 500) -> list[int]:
    """Pending deliveries due for longer than WEBHOOK_OVERDUE_AFTER, queued again: their message was lost (a broker
    outage, a worker killed mid-attempt past its claim). A delivery still queued is claimed once, so this is safe."""
    from .tasks import send_delivery

    overdue_before = timezone.now() - timedelta(seconds=settings.WEBHOOK_OVERDUE_AFTER)
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=overdue_before)
    found = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for pk in found:
        send_delivery(pk)
    return found


def attempt_delivery(delivery_id: int) -> float | None:
    """One attempt of a due delivery, recorded; the seconds until the next one, or None when there is none to make."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
        return None
    attempt = _send(delivery)
    now = timezone.now()
    with transaction.atomic():
        attempt.save()
        if attempt.succeeded:
            Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.DELIVERED, delivered_at=now)
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            return None
        since = endpoint.failing_since or attempt.attempted_at
        window = timedelta(seconds=settings.WEBHOOK_RETRY_FOR)
        if endpoint.failing_since is None:
            Endpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=since)
        elif now - since >= window:
            reason = DISABLED_REASON.format(since=since.isoformat(timespec="seconds"))
            Endpoint.objects.filter(pk=endpoint.pk, disabled_at=None).update(disabled_at=now, disabled_reason=reason)
            Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.FAILED
            )
            return None
        if now - delivery.created_at >= window:
            Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
            return None
        delay = retry_delay(delivery.attempts.count())
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + timedelta(seconds=delay))
    return delay
