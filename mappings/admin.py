from django.contrib import admin

from runs.admin import WorkspaceScopedAdmin

from .models import NodeMapping, NodeMappingPair, SuggestionTally


class NodeMappingPairInline(admin.TabularInline):
    model = NodeMappingPair
    extra = 0
    fields = ["source_node_id", "target_node_id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(NodeMapping)
class NodeMappingAdmin(WorkspaceScopedAdmin):
    """Saved mappings to find, read and delete: they are saved where their rules are (the dialog, the API)."""

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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
