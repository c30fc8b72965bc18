from django.urls import path

from . import views as api

urlpatterns = [
    path("<slug:slug>/models", api.models),
    path("<slug:slug>/prompts", api.prompts),
    path("<slug:slug>/prompts/<str:artifact_id>", api.prompt_detail),
    path("<slug:slug>/prompts/<str:artifact_id>/revisions", api.create_prompt_revision),
    path("<slug:slug>/prompts/<str:artifact_id>/revisions/<str:content_hash>", api.prompt_revision),
    path("<slug:slug>/workflows", api.workflows),
    path("<slug:slug>/workflows/<str:workflow_id>", api.workflow_detail),
    path("<slug:slug>/workflows/<str:workflow_id>/versions", api.create_version),
    path("<slug:slug>/workflows/<str:workflow_id>/versions/<int:number>", api.workflow_version),
    path("<slug:slug>/workflows/<str:workflow_id>/pause", api.pause_workflow),
    path("<slug:slug>/workflows/<str:workflow_id>/unpause", api.unpause_workflow),
    path("<slug:slug>/workflows/<str:workflow_id>/runs", api.trigger_run),
    path("<slug:slug>/runs", api.list_runs),
    path("<slug:slug>/runs/export.jsonl", api.export_runs),
    path("<slug:slug>/runs/<str:run_id>", api.run_detail, name="api-run"),
    path("<slug:slug>/runs/<str:run_id>/compare", api.compare_runs),
    path("<slug:slug>/runs/<str:run_id>/checks", api.check_runs),
    path("<slug:slug>/runs/<str:run_id>/otlp", api.run_otlp),
    path("<slug:slug>/runs/<str:run_id>/pause", api.pause_run),
    path("<slug:slug>/runs/<str:run_id>/resume", api.resume_run),
    path("<slug:slug>/runs/<str:run_id>/cancel", api.cancel_run),
]
