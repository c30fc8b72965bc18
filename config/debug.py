"""The DEBUG error page (`make run`), able to show any text: `DEFAULT_EXCEPTION_REPORTER` names it.

Django builds the page as text and encodes it as UTF-8. A lone surrogate (`"\\ud800"`) in an exception's message or
a request's value cannot be encoded: the page itself failed, and gunicorn answered its own bare 500 after tens of
seconds. Such characters are written as their escape (`\\ud800`) instead.
"""

from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter


def encodable(page: SafeString) -> SafeString:
    """The page with each unencodable character as its escape: still safe, an escape adds no markup."""
    return mark_safe(page.encode("utf-8", "backslashreplace").decode("utf-8"))


class EncodableExceptionReporter(ExceptionReporter):
    def get_traceback_html(self) -> SafeString:
        return encodable(super().get_traceback_html())

    def get_traceback_text(self) -> SafeString:
        return encodable(super().get_traceback_text())
