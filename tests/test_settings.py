"""Settings read from the environment refuse values they cannot understand, naming the variable."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, env_bool, env_int

from .worker import BASE_DIR


@pytest.mark.parametrize(
    ("word", "expected"), [("1", True), ("Yes", True), (" on ", True), ("0", False), ("off", False)]
)
def test_env_bool_reads_the_boolean_words(monkeypatch, word, expected):
    monkeypatch.setenv("SECURE_COOKIES", word)
    assert env_bool("SECURE_COOKIES", not expected) is expected


def test_env_bool_uses_the_default_when_unset_or_empty(monkeypatch):
    monkeypatch.setenv("SECURE_COOKIES", "")
    assert env_bool("SECURE_COOKIES", True) is True


def test_env_bool_refuses_a_word_that_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("SECURE_COOKIES", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"SECURE_COOKIES='maybe' is not a boolean: use one of 1, true"):
        env_bool("SECURE_COOKIES")


def test_env_int_refuses_a_value_that_is_not_a_number(monkeypatch):
    monkeypatch.setenv("REPLAY_MAX_DEPTH", "five")
    with pytest.raises(ImproperlyConfigured, match=r"REPLAY_MAX_DEPTH='five' is not a whole number"):
        env_int("REPLAY_MAX_DEPTH", 5)


def test_manage_py_check_stops_at_start_up_on_a_bad_boolean():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "REPRISE_VAR_DIR": str(BASE_DIR / "var" / "test" / "bad-env"), "DEBUG": "maybe"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG='maybe' is not a boolean" in result.stderr


def test_manage_py_check_stops_at_start_up_when_run_max_parallel_is_below_one():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={
            "PATH": "/usr/bin:/bin",
            "REPRISE_VAR_DIR": str(BASE_DIR / "var" / "test" / "bad-env"),
            "RUN_MAX_PARALLEL": "0",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: RUN_MAX_PARALLEL=0 must be 1 or more." in result.stderr


def gunicorn_config(monkeypatch, **env) -> dict:
    for name in ("REDIS_URL", "WEB_CONCURRENCY", "WEB_THREADS", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(BASE_DIR / "config" / "gunicorn.py"))


def test_gunicorn_serves_one_process_with_threads_on_the_embedded_default(monkeypatch):
    config = gunicorn_config(monkeypatch, PORT="9000")
    assert (config["workers"], config["threads"], config["worker_class"]) == (1, 8, "gthread")
    assert config["bind"] == "127.0.0.1:9000"


def test_gunicorn_refuses_several_processes_without_the_shared_redis_cache(monkeypatch):
    with pytest.raises(SystemExit, match=r"WEB_CONCURRENCY=2 needs REDIS_URL: without it the replay quota"):
        gunicorn_config(monkeypatch, WEB_CONCURRENCY="2")


def test_gunicorn_serves_several_processes_with_redis(monkeypatch):
    config = gunicorn_config(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/4", WEB_CONCURRENCY="4", HOST="0.0.0.0")
    assert (config["workers"], config["bind"]) == (4, "0.0.0.0:8000")


def test_postgresql_prepares_statements_unless_turned_off(monkeypatch):
    url = "postgres://reprise@db:5432/reprise"
    assert database_from_url(url, Path("x.sqlite3"))["OPTIONS"]["prepare_threshold"] == 5
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "off")
    assert database_from_url(url, Path("x.sqlite3"))["OPTIONS"]["prepare_threshold"] is None
