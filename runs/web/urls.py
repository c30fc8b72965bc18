from django.urls import path

from . import views

urlpatterns = [
    path("ai/runs", views.runs_list, name="runs-list"),
    path("ai/runs/<str:run_id>", views.trace, name="trace"),
    path("ai/runs/<str:run_id>/steps", views.trace_more_steps, name="trace-more-steps"),
    path("monitoring/workflow-runs", views.monitoring_list, name="monitoring-list"),
    path("monitoring/workflow-runs/<str:run_id>", views.monitoring_detail, name="monitoring-detail"),
    path("monitoring/workflow-runs/<str:run_id>/<str:action>", views.monitoring_action, name="monitoring-action"),
]
