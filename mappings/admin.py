from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from runs.admin import WorkspaceScopedAdmin
from runs.http.errors import Rejected
from runs.models import Membership

from .models import NodeMapping, NodeMappingPair, SuggestionTally
from .services import mappable_nodes, node_ids_of, validate_pairs


class NodeMappingForm(forms.ModelForm):
    """A mapping as the dialog and the API save one: two versions of one workflow of its workspace, an owner who is
    a member of it."""

    class Meta:
        model = NodeMapping
        fields = ["workspace", "source_version", "target_version", "visibility", "owner", "created_at", "updated_at"]

    def clean(self):
        data = super().clean() or {}
        workspace, source, target, owner = (
            data.get(k) for k in ("workspace", "source_version", "target_version", "owner")
        )
        if workspace and source and target:
            if source.workflow_id != target.workflow_id:
                raise ValidationError("The source and target versions must be versions of one workflow.")
            if source.workflow.workspace_id != workspace.pk:
                raise ValidationError("The versions' workflow belongs to another workspace than this mapping's.")
        if workspace and owner and not Membership.objects.filter(user=owner, workspace=workspace).exists():
            raise ValidationError({"owner": "The owner must be a member of the mapping's workspace."})
        return data


class PairsFormSet(forms.BaseInlineFormSet):
    """The pairs, refused as the mapping dialog and the API refuse them (validate_pairs, the one rule)."""

    def clean(self):
        super().clean()
        mapping = self.instance
        source, target = getattr(mapping, "source_version", None), getattr(mapping, "target_version", None)
        if source is None or target is None or any(form.errors for form in self.forms):
            return
        pairs: dict[str, str] = {}
        for form in self.forms:
            data = form.cleaned_data
            if not data or data.get("DELETE"):
                continue
            if data["source_node_id"] in pairs:
                raise ValidationError(f"{data['source_node_id']!r} is mapped twice.")
            pairs[data["source_node_id"]] = data["target_node_id"]
        try:
            validate_pairs(
                pairs, renamed=mappable_nodes(source, target), target_ids=set(node_ids_of(target)), field="pairs"
            )
        except Rejected as refused:
            raise ValidationError(refused.message) from None


class NodeMappingPairInline(admin.TabularInline):
    model = NodeMappingPair
    formset = PairsFormSet
    extra = 0
    fields = ["source_node_id", "target_node_id"]

    def _superuser(self, request):
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None):
        return self._superuser(request)

    def has_change_permission(self, request, obj=None):
        return self._superuser(request)

    def has_delete_permission(self, request, obj=None):
        return self._superuser(request)


@admin.register(NodeMapping)
class NodeMappingAdmin(WorkspaceScopedAdmin):
    form = NodeMappingForm
    list_display = ["id", "workspace", "version_pair", "visibility", "owner", "pair_count", "updated_at"]
    list_filter = [
        "workspace",
        "visibility",
        "source_version",
        "target_version",
    ]
    search_fields = ["pairs__source_node_id", "pairs__target_node_id", "owner__username"]
    list_select_related = ["workspace", "owner", "source_version__workflow", "target_version"]
    inlines = [NodeMappingPairInline]

    @admin.display(description="Version pair")
    def version_pair(self, obj):
        return f"{obj.source_version.workflow.name}: v{obj.source_version.number} → v{obj.target_version.number}"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        mapping = form.instance
        NodeMapping.objects.filter(pk=mapping.pk).update(pair_count=mapping.pairs.count())

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return ["pair_count", "created_at", "updated_at"]
        return [f.name for f in self.model._meta.fields]


@admin.register(SuggestionTally)
class SuggestionTallyAdmin(WorkspaceScopedAdmin):
    """Suggested targets the operators kept or changed when they saved a mapping: their real-world precision."""

    list_display = ["workspace", "accepted", "overridden", "kept", "updated_at"]
    list_select_related = ["workspace"]
    readonly_fields = ["workspace", "accepted", "overridden", "kept", "updated_at"]
    fields = ["workspace", "accepted", "overridden", "kept", "updated_at"]

    @admin.display(description="Kept")
    def kept(self, obj):
        return "–" if obj.precision is None else f"{obj.precision:.0%}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
