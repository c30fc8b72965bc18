from django.urls import path

from . import compare, views

urlpatterns = [
    path("ai/runs", views.runs_list, name="runs-list"),
    path("ai/runs/<str:run_id>", views.trace, name="trace"),
    path("ai/runs/<str:run_id>/steps", views.trace_more_steps, name="trace-more-steps"),
    path("ai/runs/<str:run_id>/otlp", views.trace_otlp, name="trace-otlp"),
    path("ai/runs/<str:run_id>/compare", compare.compare_page, name="compare"),
    path("ai/runs/<str:run_id>/compare/row", compare.compare_row_diff, name="compare-row-diff"),
    path("monitoring/workflow-runs", views.monitoring_list, name="monitoring-list"),
    path("monitoring/workflow-runs/<str:run_id>", views.monitoring_detail, name="monitoring-detail"),
    path("monitoring/workflow-runs/<str:run_id>/<str:action>", views.monitoring_action, name="monitoring-action"),
]
