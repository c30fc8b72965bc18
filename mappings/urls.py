from django.urls import path

from . import views

urlpatterns = [
    path("ai/runs/<str:run_id>/node-mapping", views.mapping_dialog, name="mapping-dialog"),
]
