"""Lets templates show the words of replay/messages.py instead of copying them."""

from django import template

from replay import messages

register = template.Library()

TEXTS = {"submitted": messages.SUBMITTED, "submission_failed": messages.SUBMISSION_FAILED}


@register.simple_tag
def replay_message(name: str) -> str:
    return TEXTS[name]
