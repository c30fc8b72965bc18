from django import forms
from django.contrib import admin, messages

from runs.admin import ReadOnlyAdmin, WorkspaceScopedAdmin
from runs.engine import outbound
from runs.http.errors import BadRequest

from .models import Attempt, Delivery, Endpoint, Event
from .services import endpoint_events

EVENTS_HELP = "A JSON list of the events delivered here, of: " + ", ".join(Event.values) + "."


class EndpointForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        fields = ("workspace", "url", "events")
        help_texts = {"events": EVENTS_HELP}

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            outbound.check_url(url)  # the http tools' guard, as the API applies it
        except outbound.Refused as exc:
            raise forms.ValidationError(f"This URL is refused: {exc}.") from None
        return url

    def clean_events(self):
        """The API's rule (endpoint_events): what is stored here GET /webhooks lists."""
        try:
            return endpoint_events(self.cleaned_data["events"])
        except BadRequest:
            raise forms.ValidationError(EVENTS_HELP) from None


@admin.register(Endpoint)
class EndpointAdmin(WorkspaceScopedAdmin):
    form = EndpointForm
    list_display = ("endpoint_id", "workspace", "url", "state", "failing_since", "created_at")
    readonly_fields = ("endpoint_id", "state", "failing_since", "disabled_reason", "created_at")

    @admin.display(description="state")
    def state(self, obj):
        return (obj.disabled_reason or "Disabled") if obj.disabled_at else "Enabled"

    def get_fields(self, request, obj=None):
        return ("workspace", "url", "events") + (self.readonly_fields if obj else ())

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:  # the secret is shown this once, never on a page again
            messages.warning(request, f"Signing secret of {obj.endpoint_id} (shown once, copy it now): {obj.secret}")


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ("attempted_at", "status_code", "duration_ms", "response_excerpt", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    workspace_path = "endpoint__workspace"
    list_display = ("webhook_id", "event", "endpoint", "status", "created_at", "delivered_at")
    list_filter = ("status", "event")
    list_select_related = ("endpoint",)
    inlines = (AttemptInline,)
