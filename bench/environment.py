"""Points Django at a fresh benchmark database before anything imports settings."""

import os
import shutil
from pathlib import Path

# "both" (the default) measures every figure on each stack in a child process of its own and prints them side by side.
BENCH_DB = os.environ.get("BENCH_DB", "both")
STACKS = ("sqlite", "postgres")
STACK_LABELS = {
    "sqlite": "SQLite (WAL) + filesystem broker + local-memory cache",
    "postgres": "PostgreSQL + Redis broker + Redis cache",
}
BROKERS = {"sqlite": "filesystem broker", "postgres": "Redis broker"}  # named in the worker figures
# A machine that runs several benchmarks at once gives each its own database and Redis dbs.
PG_NAME = os.environ.get("BENCH_PG_NAME", "reprise_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_NAME}"
BROKER_DB = int(os.environ.get("BENCH_REDIS_BROKER_DB", "12"))
CACHE_DB = int(os.environ.get("BENCH_REDIS_CACHE_DB", "13"))


def configure() -> str:
    """Sets the environment for the chosen stack and returns its label for the table."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REPRISE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "bench"))
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    # The benchmark measures speed, not the quota: submissions must never be refused for rate.
    os.environ["REPLAY_QUOTA_RATE"] = "1000000/m"
    if BENCH_DB == "sqlite":
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        var = Path(os.environ["REPRISE_VAR_DIR"])
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        return STACK_LABELS["sqlite"]
    if BENCH_DB != "postgres":
        raise SystemExit(f"BENCH_DB must be both, postgres or sqlite, not {BENCH_DB!r}")
    os.environ["DATABASE_URL"] = PG_URL
    os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:6379/{BROKER_DB}"
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{CACHE_DB}"
    _fresh_postgres()
    _fresh_redis()
    return STACK_LABELS["postgres"]


def _fresh_postgres() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(PG_NAME)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_NAME)))


def _fresh_redis() -> None:
    import redis

    for db in (BROKER_DB, CACHE_DB):
        redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


def setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # pages link the hashed names it writes
