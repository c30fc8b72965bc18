from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from config import openapi
from mappings import api as mappings_api
from replay import api as replay_api
from replay.cohorts import api as cohorts_api
from runs.api import views as runs_api_views
from runs.web import views as runs_views
from webhooks import api as webhooks_api

api_v1 = [
    path("openapi.json", openapi.openapi_json, name="openapi"),
    path("docs", openapi.docs, name="api-docs"),
    path("<slug:slug>/runs/<str:run_id>/replays", replay_api.submit),
    path("<slug:slug>/runs/<str:run_id>/replay-plan", replay_api.replay_plan),
    path("<slug:slug>/policy", replay_api.policy),
    path("<slug:slug>/cohorts", cohorts_api.cohorts),
    path("<slug:slug>/cohorts/preview", cohorts_api.preview),
    path("<slug:slug>/cohorts/<str:cohort_id>", cohorts_api.detail),
    path("<slug:slug>/cohorts/<str:cohort_id>/members", cohorts_api.members),
    path("<slug:slug>/cohorts/<str:cohort_id>/members.jsonl", cohorts_api.export_jsonl),
    path("<slug:slug>/cohorts/<str:cohort_id>/members.csv", cohorts_api.export_csv),
    path("<slug:slug>/cohorts/<str:cohort_id>/cancel", cohorts_api.cancel),
    path("<slug:slug>/mappings", mappings_api.mappings),
    path("<slug:slug>/webhooks", webhooks_api.webhooks),
    path("<slug:slug>/webhooks/<str:endpoint_id>", webhooks_api.webhook),
    path("", include("runs.api.urls")),
    # [\s\S], not ".": a path may hold an encoded newline, and "." would let it fall through to the HTML 404.
    re_path(r"^(?P<path>[\s\S]*)$", runs_api_views.no_such_endpoint),
]

urlpatterns = [
    # The admin signs in through the throttled /login/ (LOGIN_RATE), keeping ?next=: its own form has no throttle.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True), name="admin-login"),
    path("admin/", admin.site.urls),
    path("favicon.ico", runs_views.favicon),
    path("login/", runs_views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("", runs_views.home, name="home"),
    # The runs list's Export streams the API's export with the page's session (runs.web does not import runs.api).
    path("<slug:slug>/ai/runs/export.jsonl", runs_api_views.export_runs_page, name="runs-export"),
    path("<slug:slug>/ai/cohorts/<str:cohort_id>/members.csv", cohorts_api.export_csv_page, name="cohort-members-csv"),
    path(
        "<slug:slug>/ai/cohorts/<str:cohort_id>/members.jsonl",
        cohorts_api.export_jsonl_page,
        name="cohort-members-jsonl",
    ),
    path("<slug:slug>/", include("mappings.urls")),
    path("<slug:slug>/", include("replay.urls")),
    path("<slug:slug>/", include("runs.web.urls")),
]
