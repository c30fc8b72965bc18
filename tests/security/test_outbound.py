"""The http tools reach only public addresses unless TOOL_HTTP_ALLOWED_HOSTS lists the host.

The classifier is checked on example addresses, never contacted; every request goes to loopback.
"""

import os
import socket
import subprocess
import sys
from ipaddress import ip_address, ip_network

import pytest

from config.env import parse_hosts
from runs import services
from runs.engine.outbound import Refused, check, refusal_reason
from runs.models import ToolCall

from ..builders import finished_run, tool
from ..worker import BASE_DIR

pytestmark = pytest.mark.django_db

SETTING = "TOOL_HTTP_ALLOWED_HOSTS"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.0.0.2", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("100.64.0.1", "a carrier-grade NAT (shared) address"),
        ("100.127.255.254", "a carrier-grade NAT (shared) address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("fec0::1", "a site-local address"),
        ("192.0.2.1", "not a public address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a link-local address (169.254.169.254) in IPv6 form"),
        ("::ffff:10.0.0.1", "a private address (10.0.0.1) in IPv6 form"),
        ("::127.0.0.1", "a loopback address (127.0.0.1) in IPv6 form"),
        ("::ffff:0:a9fe:a9fe", "a link-local address (169.254.169.254) in IPv6 form"),
        ("2002:7f00:1::", "a loopback address (127.0.0.1) in IPv6 form"),
        ("2002:a9fe:a9fe::1", "a link-local address (169.254.169.254) in IPv6 form"),
        ("64:ff9b::a9fe:a9fe", "a link-local address (169.254.169.254) in IPv6 form"),
        ("64:ff9b::6440:1", "a carrier-grade NAT (shared) address (100.64.0.1) in IPv6 form"),
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address, reason):
    assert refusal_reason(ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"],
)
def test_public_addresses_are_allowed(address):
    assert refusal_reason(ip_address(address)) is None


def test_a_host_with_one_private_address_among_public_ones_is_refused():
    with pytest.raises(Refused) as refused:
        check("mixed.example", [ip_address("93.184.216.34"), ip_address("10.0.0.7")], ())
    assert str(refused.value).startswith("mixed.example resolves to 10.0.0.7, a private address")
    assert SETTING in str(refused.value)


def test_a_listed_host_name_is_reached_whatever_it_resolves_to():
    check("Internal.Example.", [ip_address("10.0.0.7"), ip_address("::1")], parse_hosts(SETTING, "internal.example"))


def test_a_listed_block_allows_its_addresses_and_their_ipv4_mapped_form():
    allowed = parse_hosts(SETTING, "10.0.0.0/8")
    check("10.2.3.4", [ip_address("10.2.3.4")], allowed)
    check("::ffff:10.2.3.4", [ip_address("::ffff:10.2.3.4")], allowed)


def test_a_listed_block_does_not_allow_addresses_outside_it():
    with pytest.raises(Refused, match="192.168.0.1 is a private address"):
        check("192.168.0.1", [ip_address("192.168.0.1")], parse_hosts(SETTING, "10.0.0.0/8, localhost"))


def test_the_setting_reads_names_addresses_and_blocks():
    assert parse_hosts(SETTING, " API.example.com., 10.0.0.5 ,10.0.0.0/8,[::1],fd00::/8,,") == (
        "api.example.com",
        ip_network("10.0.0.5/32"),
        ip_network("10.0.0.0/8"),
        ip_network("::1/128"),
        ip_network("fd00::/8"),
    )


def test_the_setting_is_empty_by_default(settings):
    assert settings.TOOL_HTTP_ALLOWED_HOSTS == ()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("http://api.example.com", "is not a host name, an IP address or a CIDR block"),
        ("*.example.com", "is not a host name, an IP address or a CIDR block"),
        ("999.1.1.1", "is not a host name, an IP address or a CIDR block"),
        ("10.0.0.1/8", "is not a CIDR block: 10.0.0.1/8 has host bits set"),
        ("10.0.0.0/33", "is not a CIDR block"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_setting_and_the_entry(entry, problem):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as error:
        parse_hosts(SETTING, f"localhost,{entry}")
    assert str(error.value).startswith(f"{SETTING}: {entry!r} {problem}")


def test_a_malformed_entry_stops_start_up_with_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**env, SETTING: "localhost, https://api.example.com", "REPRISE_VAR_DIR": str(BASE_DIR / "var" / "test")},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"{SETTING}: 'https://api.example.com' is not a host name" in result.stderr


def fetch_workflow(acme, url, name="http.get"):
    args = {"url": url, "json": {"a": 1}} if name == "http.post" else {"url": url}
    return services.create_workflow(workspace=acme, name="Fetch", nodes=[tool("fetch", name, args)])


def test_http_get_to_loopback_fails_its_step_naming_the_address_and_the_setting(acme, local_server):
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/"))
    assert run.status == "failed"
    assert run.error == (
        f"Node fetch failed: http.get refused {local_server.url}/: 127.0.0.1 is a loopback address, "
        f"which the http tools reach only when {SETTING} lists it"
    )
    assert run.steps.get().status == "failed"
    assert local_server.requests == []


def test_http_post_to_loopback_is_refused_before_anything_is_sent(acme, local_server):
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/hook", name="http.post"))
    assert run.status == "failed" and "http.post refused" in run.error and SETTING in run.error
    assert local_server.requests == []


def test_a_loopback_address_listed_in_the_setting_is_fetched(acme, local_server, tools_reach_local_server):
    local_server.script("/status", [(200, {"ok": True})])
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/status"))
    assert run.status == "completed"
    assert ToolCall.objects.get(step__run=run).result == {"status": 200, "body": {"ok": True}}
    assert [r["path"] for r in local_server.requests] == ["/status"]


def test_a_redirect_from_a_listed_host_to_an_unlisted_address_is_refused(acme, local_server, settings):
    settings.TOOL_HTTP_ALLOWED_HOSTS = parse_hosts(SETTING, "localhost")
    target = f"{local_server.url}/internal"
    local_server.script("/hop", [(302, {}, 0, {"location": target})])
    port = local_server.httpd.server_address[1]
    run = finished_run(fetch_workflow(acme, f"http://localhost:{port}/hop"))
    assert run.status == "failed"
    assert f"http.get refused the redirect to {target}: 127.0.0.1 is a loopback address" in run.error
    assert [r["path"] for r in local_server.requests] == ["/hop"]


def test_a_redirect_within_listed_hosts_is_followed(acme, local_server, tools_reach_local_server):
    local_server.script("/hop", [(302, {}, 0, {"location": "/there"})])
    local_server.script("/there", [(200, {"arrived": True})])
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/hop"))
    assert ToolCall.objects.get(step__run=run).result == {"status": 200, "body": {"arrived": True}}


def test_a_redirect_to_another_scheme_is_refused(acme, local_server, tools_reach_local_server):
    local_server.script("/hop", [(302, {}, 0, {"location": "gopher://127.0.0.1:6379/_INFO"})])
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/hop"))
    assert "refused the redirect to gopher://127.0.0.1:6379/_INFO: only http and https URLs are fetched" in run.error


def test_a_url_that_is_not_http_is_refused(acme):
    run = finished_run(fetch_workflow(acme, "file:///etc/passwd"))
    assert run.error == "Node fetch failed: http.get refused file:///etc/passwd: only http and https URLs are fetched"


def test_redirects_beyond_the_limit_fail_the_step(acme, local_server, tools_reach_local_server):
    local_server.script("/loop", [(302, {}, 0, {"location": "/loop"})])
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/loop"))
    assert run.error == "Node fetch failed: http.get failed: more than 5 redirects"
    assert len(local_server.requests) == 6


def test_the_connection_goes_to_the_checked_address_even_if_the_name_resolves_again(
    acme, local_server, settings, monkeypatch
):
    """A DNS rebind: the name answers 127.0.0.1 (listed) first, then 127.0.0.2 (unlisted, nothing listens)."""
    settings.TOOL_HTTP_ALLOWED_HOSTS = parse_hosts(SETTING, "127.0.0.1")
    answers, lookups = ["127.0.0.1", "127.0.0.2"], []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            host = answers[min(len(lookups), len(answers)) - 1]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    local_server.script("/", [(200, {"ok": True})])
    port = local_server.httpd.server_address[1]
    run = finished_run(fetch_workflow(acme, f"http://rebind.test:{port}/"))
    assert run.status == "completed"
    assert lookups == ["rebind.test"]
    assert local_server.requests[0]["headers"]["host"] == f"rebind.test:{port}"


def test_an_allowlist_entry_with_a_port_allows_that_port_only(acme, local_server, settings):
    port = local_server.httpd.server_address[1]
    settings.TOOL_HTTP_ALLOWED_HOSTS = parse_hosts(SETTING, f"127.0.0.1:{port}")
    local_server.script("/status", [(200, {"ok": True})])
    assert finished_run(fetch_workflow(acme, f"{local_server.url}/status")).status == "completed"
    settings.TOOL_HTTP_ALLOWED_HOSTS = parse_hosts(SETTING, f"127.0.0.1:{port + 1}, localhost:{port}")
    run = finished_run(fetch_workflow(acme, f"{local_server.url}/status"))
    assert run.status == "failed" and "a loopback address" in run.error


@pytest.mark.parametrize(
    ("value", "entry", "port"),
    [
        ("api.example.com:8443", "api.example.com", 8443),
        ("10.0.0.5:80", ip_network("10.0.0.5/32"), 80),
        ("10.0.0.0/8:443", ip_network("10.0.0.0/8"), 443),
        ("[::1]:8080", ip_network("::1/128"), 8080),
    ],
)
def test_an_allowlist_entry_may_name_a_port(value, entry, port):
    (parsed,) = parse_hosts(SETTING, value)
    assert (parsed.entry, parsed.port) == (entry, port)


def test_a_private_address_listed_with_a_port_is_refused_on_another_port():
    allowed = parse_hosts(SETTING, "10.0.0.0/8:443")
    check("internal", [ip_address("10.0.0.5")], allowed, port=443)
    with pytest.raises(Refused):
        check("internal", [ip_address("10.0.0.5")], allowed, port=80)


@pytest.mark.parametrize("value", ["host:0", "host:65536", "host:²", "host:", "10.0.0.5:http"])
def test_an_allowlist_entry_with_a_bad_port_stops_start_up(value):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=":port|a port that is not"):
        parse_hosts(SETTING, value)


def test_an_ipv6_address_without_brackets_allows_every_port():
    assert parse_hosts(SETTING, "::1") == (ip_network("::1/128"),)
