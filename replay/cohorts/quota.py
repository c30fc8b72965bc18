"""The cohorts' share of the per-workspace replay quota: the single replay's counter (replay.services.take_quota)
counts every replay, cohorts' included; a second counter in the same windows keeps cohorts to REPLAY_COHORT_SHARE
of it, so an operator's own replay still finds room while cohorts run."""

import math

from django.conf import settings
from django_ratelimit.core import _split_rate, get_usage, is_ratelimited

from ..services import quota_now

GROUP = "replay-cohorts"


def _key(group, request):
    return request  # the same value as the replay quota's: the same windows (django-ratelimit offsets by value)


def cohort_rate(workspace_id: int) -> tuple[int, int]:
    """(replays, seconds): what all cohorts of a workspace may admit per window of the replay quota."""
    limit, period = _split_rate(settings.REPLAY_QUOTA_RATE)
    return max(1, math.floor(limit * settings.REPLAY_COHORT_SHARE)), period


def _rate(workspace_id: int) -> str:
    count, period = cohort_rate(workspace_id)
    return f"{count}/{period}s"


def cohort_quota_left(workspace_id: int) -> int:
    """Admissions the workspace's cohorts may still make in this window: their share, and the quota's own room."""
    return cohort_window(workspace_id)[0]


def cohort_window(workspace_id: int) -> tuple[int, int]:
    """(admissions the cohorts may still make in this window, seconds until the next window)."""
    usage = get_usage(f"workspace:{workspace_id}", group=GROUP, key=_key, rate=_rate(workspace_id))
    share_left = max(0, usage["limit"] - usage["count"]) if usage else 0
    resets_in = max(0, usage["time_left"]) if usage else cohort_rate(workspace_id)[1]
    return min(share_left, quota_now(workspace_id).remaining), resets_in


def count_admission(workspace_id: int) -> None:
    """One more replay made by a cohort in this window (the replay quota itself was taken by submit)."""
    is_ratelimited(f"workspace:{workspace_id}", group=GROUP, key=_key, rate=_rate(workspace_id), increment=True)
