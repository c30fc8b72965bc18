from django.contrib import admin

from .models import (
    Account,
    ApiToken,
    CatalogModel,
    Membership,
    Node,
    OutboxMessage,
    PromptArtifact,
    PromptRevision,
    Record,
    Run,
    Step,
    ToolCall,
    Workflow,
    WorkflowVersion,
    Workspace,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Execution history is evidence: inspect it, never edit it by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "allowed_models"]
    search_fields = ["name"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "account", "replay_allow_mutations"]
    list_filter = ["account", "replay_allow_mutations"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role"]
    list_filter = ["workspace", "role"]
    search_fields = ["user__username", "workspace__slug"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "user__username"]
    readonly_fields = ["prefix", "token_hash", "created_at", "last_used_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = ["model_ref", "provider", "model_id", "retired"]
    list_filter = ["provider", "retired"]
    search_fields = ["model_ref"]


class PromptRevisionInline(admin.TabularInline):
    model = PromptRevision
    extra = 0
    readonly_fields = ["content_hash", "created_at"]


@admin.register(PromptArtifact)
class PromptArtifactAdmin(admin.ModelAdmin):
    list_display = ["artifact_id", "name", "workspace", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["artifact_id", "name", "revisions__content_hash"]
    inlines = [PromptRevisionInline]


class NodeInline(admin.TabularInline):
    """A version's nodes as past runs executed them and workers cache them: shown, never edited."""

    model = Node
    extra = 0
    fields = readonly_fields = ("position", "node_id", "type", "config", "after", "policies")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["workflow_id", "name", "workspace", "paused", "paused_reason"]
    list_filter = ["workspace", "paused"]
    search_fields = ["workflow_id", "name"]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdmin):
    """Versions are immutable: created through the API (graph validation), deleted through it (runs survive)."""

    list_display = ["workflow", "number", "created_at"]
    list_filter = ["workflow__workspace"]
    search_fields = ["workflow__workflow_id", "workflow__name", "nodes__node_id"]
    inlines = [NodeInline]

    def has_delete_permission(self, request, obj=None):
        return False


STEP_FIELDS = (
    "position",
    "node_id",
    "type",
    "status",
    "model_ref",
    "prompt_hash",
    "simulated",
    "mapped_from",
    "started_at",
    "finished_at",
    "error",
)


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    fields = STEP_FIELDS
    readonly_fields = STEP_FIELDS
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["run_id", "workspace", "workflow", "version_number", "status", "mode", "replay_depth", "created_at"]
    list_filter = ["workspace", "status", "mode"]
    search_fields = ["run_id", "replay_of__run_id", "workflow__workflow_id"]
    list_select_related = ["workspace", "workflow"]
    date_hierarchy = "created_at"
    inlines = [StepInline]


class ToolCallInline(admin.TabularInline):
    model = ToolCall
    extra = 0
    readonly_fields = ["tool", "mutating", "dry_run", "arguments", "result", "created_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ["run", "node_id", "type", "status", "model_ref", "simulated", "started_at"]
    list_filter = ["status", "type", "run__workspace"]
    search_fields = ["run__run_id", "node_id"]
    list_select_related = ["run"]
    inlines = [ToolCallInline]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["run", "node_id", "to", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["run__run_id", "to", "node_id"]


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    list_display = ["kind", "key", "workspace", "run", "created_at"]
    list_filter = ["workspace", "kind"]
    search_fields = ["key", "run__run_id"]
