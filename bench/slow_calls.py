"""Many slow model calls at once: replays whose every model call takes 1 s at a local Messages API server."""

import json
import time

from django.test import Client

from runs import services
from runs.engine.executor import execute
from runs.models import ApiToken, Membership, Role, Run, Workspace
from tests.http_server import LocalServer
from tests.provider_wire import ANTHROPIC_TEST_KEY, MESSAGES, message

from .data import MODEL

LATENCY = 1.0
STEPS = 5


def sources(data, workspaces: int, prefix: str) -> list[tuple[str, str]]:
    """A finished 5-step run (simulated here) in each of `workspaces` workspaces: (slug, run id)."""
    made = []
    for i in range(workspaces):
        slug = f"{prefix}-{i}"
        workspace = Workspace.objects.create(account=data.workspace.account, slug=slug, name=slug)
        Membership.objects.create(user=data.user, workspace=workspace, role=Role.OPERATOR)
        revision = services.create_prompt(workspace=workspace, name="slow", content="Answer {{ trigger.name }}")
        nodes = [
            {
                "id": f"m{n}",
                "type": "llm",
                "model": MODEL,
                "after": [f"m{n - 1}"] if n else [],
                "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash},
            }
            for n in range(STEPS)
        ]
        version = services.create_workflow(workspace=workspace, name="Slow calls", nodes=nodes)
        run = Run.objects.create(
            workspace=workspace,
            workflow=version.workflow,
            version=version,
            version_number=1,
            trigger_payload={"name": "Dana"},
            steps_total=STEPS,
        )
        execute(run.run_id)
        made.append((workspace.slug, run.run_id))
    return made


def provider_server() -> LocalServer:
    server = LocalServer(keep_alive=True)
    server.script(MESSAGES, [(200, message("slow answer", input_tokens=300, output_tokens=120), LATENCY)])
    return server


def worker_env(server: LocalServer, concurrency: int) -> dict:
    return {
        "ANTHROPIC_API_KEY": ANTHROPIC_TEST_KEY,
        "ANTHROPIC_BASE_URL": server.url,
        "PROVIDER_MAX_RETRIES": "0",
        "CELERY_WORKER_CONCURRENCY": str(concurrency),
    }


def replays_together(data, targets: list[tuple[str, str]], count: int) -> float:
    """Submit `count` as-is replays spread over the targets at once; seconds until every one is completed."""
    _, token = ApiToken.issue(data.user, name=f"slow-{count}")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    began = time.perf_counter()
    ids = []
    for i in range(count):
        slug, run_id = targets[i % len(targets)]
        response = api.post(
            f"/api/v1/{slug}/runs/{run_id}/replays", data=json.dumps({"mode": "as_is"}), content_type="application/json"
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["run_id"])
    deadline = began + 120
    while time.perf_counter() < deadline:
        done = Run.objects.filter(pk__in=ids, status__in=("completed", "failed", "cancelled")).count()
        if done == count:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - began
    statuses = set(Run.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {"completed"}, f"{statuses} after {elapsed:.0f} s; broker: {broker_state()}"
    return elapsed


def broker_state() -> str:
    """What the Redis broker holds, to tell a message never sent from one sent and never taken."""
    import redis
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return "not Redis"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return f"{client.llen('celery')} queued, {client.hlen('unacked')} taken and not acknowledged"
