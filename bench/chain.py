"""The reference for a replay's cost: a bare Celery chain of 10 trivial tasks on the benchmark's Redis broker.

No Django, no database, no result backend: each task only hands on to the next, and the last pushes a token to a
Redis list that the benchmark waits on. Acknowledgement and prefetch as config/celery.py sets them for runs, so
the difference is what Reprise adds (persistence, the engine, the API), not a Celery setting.
"""

import os

import redis
from celery import Celery, chain

QUEUE = "bench-chain"
TASKS = 10
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")

# Not the current app: the benchmark imports this module, and Reprise's shared tasks resolve through the current app,
# so every run its main thread dispatched afterwards went to this app's queue, where no Reprise worker listens.
app = Celery("bench_chain", broker=BROKER_URL, set_as_current=False)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
_signal: redis.Redis | None = None


@app.task(name="bench.chain.step")
def step(index: int, token: str) -> None:
    global _signal
    if index == TASKS - 1:
        _signal = _signal or redis.Redis.from_url(BROKER_URL)
        _signal.rpush(token, 1)


@app.task(name="bench.chain.noop")
def noop(counter: str) -> None:
    """One message and nothing else: what a task costs Celery and the broker alone (the throughput figure's floor)."""
    global _signal
    _signal = _signal or redis.Redis.from_url(BROKER_URL)
    _signal.incr(counter)


def run_chain(client: redis.Redis, token: str, timeout: float = 10.0) -> None:
    """Sends the chain and returns when its last task has run."""
    chain(step.si(i, token) for i in range(TASKS)).apply_async()
    if client.blpop([token], timeout=timeout) is None:
        raise AssertionError(f"the {TASKS}-task chain did not finish within {timeout}s")
