from django.urls import path

from . import views
from .cohorts import views as cohorts

urlpatterns = [
    path("ai/runs/<str:run_id>/replay", views.dialog, name="replay-dialog"),
    path("ai/runs/<str:run_id>/replay/mapping", views.mapping_section, name="replay-mapping-section"),
    path("ai/runs/<str:run_id>/replay/plan", views.plan_panel, name="replay-plan-panel"),
    path("ai/runs/<str:run_id>/replay/revision", views.revision_writer, name="replay-revision-writer"),
    path("ai/cohorts", cohorts.cohort_list, name="cohort-list"),
    path("ai/cohorts/new", cohorts.cohort_new, name="cohort-new"),
    path("ai/cohorts/new/preview", cohorts.cohort_preview, name="cohort-preview"),
    path("ai/cohorts/new/checks", cohorts.cohort_checks, name="cohort-checks"),
    path("ai/cohorts/<str:cohort_id>", cohorts.cohort_detail, name="cohort-detail"),
    path("ai/cohorts/<str:cohort_id>/cancel", cohorts.cohort_cancel, name="cohort-cancel"),
]
