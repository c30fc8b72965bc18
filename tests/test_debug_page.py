"""`make run`'s error page (DEBUG): it shows any text, a lone surrogate included, instead of failing itself."""

import sys

from django.test import RequestFactory
from django.views.debug import technical_500_response


def raised(exc: Exception):
    try:
        raise exc
    except Exception:
        return sys.exc_info()


def test_the_debug_error_page_shows_a_lone_surrogate_as_its_escape(settings):
    settings.DEBUG = True
    request = RequestFactory().post("/x/", {"name": "kept"})
    response = technical_500_response(request, *raised(ValueError("bad name a\ud800b")))
    assert response.status_code == 500
    assert "bad name a\\ud800b" in response.content.decode()


def test_the_plain_text_debug_error_page_shows_a_lone_surrogate_as_its_escape(settings):
    settings.DEBUG = True
    request = RequestFactory().get("/x/", headers={"accept": "text/plain"})
    response = technical_500_response(request, *raised(ValueError("a\ud800b")))
    assert "a\\ud800b" in response.content.decode()
