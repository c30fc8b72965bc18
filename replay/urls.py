from django.urls import path

from . import views

urlpatterns = [
    path("ai/runs/<str:run_id>/replay", views.dialog, name="replay-dialog"),
    path("ai/runs/<str:run_id>/replay/mapping", views.mapping_section, name="replay-mapping-section"),
    path("ai/runs/<str:run_id>/replay/plan", views.plan_panel, name="replay-plan-panel"),
    path("ai/runs/<str:run_id>/replay/revision", views.revision_writer, name="replay-revision-writer"),
]
