"""A run's or a step's status as a badge, the same markup on every page."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def status_badge(status: str) -> SafeString:
    return format_html('<span class="badge badge-{}">{}</span>', status, status)
