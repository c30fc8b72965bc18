"""The login throttle counts per client: REMOTE_ADDR, or behind the TLS proxy the address it reports."""

import pytest
from django.test import RequestFactory

from runs.http.client import client_address

PROXY = "10.0.0.2"  # what REMOTE_ADDR is for every request that came through the proxy


@pytest.fixture
def three_a_minute(settings):
    settings.LOGIN_RATE = "3/m"


@pytest.fixture
def behind_proxy(settings, three_a_minute):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXY_COUNT = 1


def login(client, forwarded_for=None):
    extra = {"REMOTE_ADDR": PROXY}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post("/login/", {"username": "operator", "password": "wrong"}, **extra).status_code


def test_behind_the_proxy_one_client_is_throttled_and_another_is_not(client, operator, behind_proxy):
    assert [login(client, "203.0.113.5") for _ in range(4)] == [200, 200, 200, 429]
    assert login(client, "198.51.100.7") == 200


def test_behind_the_proxy_an_address_the_client_forged_in_front_does_not_escape_its_bucket(
    client, operator, behind_proxy
):
    codes = [login(client, f"192.0.2.{i}, 203.0.113.5") for i in range(4)]
    assert codes == [200, 200, 200, 429]


def test_with_two_trusted_proxies_the_client_is_the_second_entry_from_the_right(
    client, operator, behind_proxy, settings
):
    settings.TRUSTED_PROXY_COUNT = 2
    assert [login(client, f"203.0.113.5, 10.0.0.{i}") for i in range(4)] == [200, 200, 200, 429]
    assert login(client, "198.51.100.7, 10.0.0.1") == 200


def test_without_the_proxy_the_throttle_keys_on_remote_addr_and_ignores_x_forwarded_for(
    client, operator, three_a_minute
):
    codes = [login(client, f"203.0.113.{i}") for i in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.parametrize("header", [None, "", "not-an-address", "203.0.113.5:443"])
def test_behind_the_proxy_a_missing_or_malformed_header_falls_back_to_remote_addr(settings, header):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXY_COUNT = 1
    extra = {"REMOTE_ADDR": PROXY} | ({"HTTP_X_FORWARDED_FOR": header} if header is not None else {})
    assert client_address(RequestFactory().post("/login/", **extra)) == PROXY


def test_a_header_shorter_than_the_proxy_chain_falls_back_to_remote_addr(settings):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().post("/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_address(request) == PROXY
