"""Typed readers of the environment: each refuses a malformed value at start-up, naming the variable."""

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    word = value.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a boolean: use one of {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}."
        )
    return word in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


type HostEntry = str | ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class OnPort:
    """An allowlist entry that allows one port only (`host:port`, `10.0.0.5:8080`, `[::1]:8080`)."""

    entry: HostEntry
    port: int


def parse_hosts(name: str, value: str) -> tuple[HostEntry | OnPort, ...]:
    """Comma-separated host names, IP addresses and CIDR blocks, each with an optional `:port`.

    Names lowercased, addresses as /32 or /128 blocks; an entry without a port allows every port.
    """
    return tuple(_with_port(name, item.strip()) for item in value.split(",") if item.strip())


def _with_port(name: str, item: str) -> HostEntry | OnPort:
    if item.startswith("[") and "]:" in item:  # [IPv6]:port
        text, _, port = item[1:].partition("]:")
    elif item.count(":") == 1:  # host:port or IPv4:port (a bare IPv6 address has more colons)
        text, _, port = item.partition(":")
    else:
        return _host_entry(name, item)
    if not (port.isascii() and port.isdigit()):
        return _host_entry(name, item)  # not host:port (a URL, say): refused as the malformed entry it is
    if not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(f"{name}: {item!r} names a port that is not a number from 1 to 65535")
    return OnPort(_host_entry(name, text), int(port))


def _host_entry(name: str, item: str) -> HostEntry:
    text = item[1:-1] if item.startswith("[") and item.endswith("]") else item
    problem = (
        "is not a host name, an IP address or a CIDR block (e.g. api.example.com, 10.0.0.5, 10.0.0.0/8),"
        " each with an optional :port"
    )
    try:
        return ipaddress.ip_network(text)
    except ValueError as exc:
        if _is_ip_address(text.partition("/")[0]):
            problem = f"is not a CIDR block: {exc}"  # e.g. host bits set, or a prefix too long
    host = text.lower().removesuffix(".")
    # A name whose last label is a number would be read as an IPv4 address by URL parsers.
    if not HOST_NAME.fullmatch(host) or host.rsplit(".", 1)[-1].isdigit():
        raise ImproperlyConfigured(f"{name}: {item!r} {problem}")
    return host


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def database_from_url(url: str, default_sqlite: Path) -> dict:
    """Translate DATABASE_URL (postgres://… or sqlite:///path) into Django's dict."""
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        options: dict = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        # psycopg prepares a statement a connection ran 5 times, on server-binding cursors only (the step
        # boundary's); Django's client-binding cursors never prepare. Off for a pooler that cannot keep them.
        options["prepare_threshold"] = 5 if env_bool("DATABASE_PREPARED_STATEMENTS", True) else None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "reprise",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            "TEST": {"NAME": env_str("DATABASE_TEST_NAME", "test_reprise")},
        }
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path) or str(default_sqlite)
        return sqlite_database(Path(path))
    raise ValueError(f"DATABASE_URL: unsupported scheme {parsed.scheme!r} (use postgres:// or sqlite:///)")


def sqlite_database(path: Path) -> dict:
    # WAL lets the web process read while the worker writes; IMMEDIATE
    # transactions avoid the "database is locked" upgrade deadlock.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
        # A file, not memory, so a real worker subprocess sees the test data.
        "TEST": {"NAME": str(path.with_name(path.stem + "-test.sqlite3"))},
    }
