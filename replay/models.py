"""The replay app's models: cohorts (issue 31) live in replay/cohorts/models.py."""

from .cohorts.models import Cohort, CohortMember

__all__ = ["Cohort", "CohortMember"]
