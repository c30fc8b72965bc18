"""A moment as every page shows it: date, time and its time zone, in a <time> element with the exact instant."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

SHOWN = "%Y-%m-%d %H:%M:%S %Z"  # 2026-12-03 21:07:22 UTC: the zone is the current one (TIME_ZONE)


@register.filter
def timestamp(value: datetime | None) -> SafeString | str:
    """ "" for no moment, so `|default:"—"` still applies."""
    if value is None:
        return ""
    at = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time>', at.isoformat(), at.strftime(SHOWN))
