from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path

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


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """What a staff user who is not a superuser sees and acts on: rows of the workspaces they are a member of.

    `workspace_path` is the lookup from the model to its Workspace. Querysets scope the list, the change
    pages and every action (Django's actions run on the list's queryset), and foreign-key choices.
    """

    workspace_path = "workspace"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.workspace_path}__in": member_workspaces(request.user)}).distinct()

    def get_list_filter(self, request):
        """A related filter lists every row of its model (globex among workspaces): here only those of the list."""
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [
            (f, admin.RelatedOnlyFieldListFilter)
            if isinstance(f, str) and get_fields_from_path(self.model, f)[-1].is_relation
            else f
            for f in filters
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Workspace and not request.user.is_superuser:
            kwargs["queryset"] = Workspace.objects.filter(pk__in=member_workspaces(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def member_workspaces(user):
    """The workspaces `user` is a member of, as a subquery."""
    return Membership.objects.filter(user=user).values("workspace")


class ReadOnlyAdmin(WorkspaceScopedAdmin):
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
class AccountAdmin(WorkspaceScopedAdmin):
    workspace_path = "workspaces"
    list_display = ["name", "allowed_models"]
    search_fields = ["name"]


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    workspace_path = "pk"
    list_display = ["slug", "name", "account", "replay_allow_mutations"]
    list_filter = ["account", "replay_allow_mutations"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    list_display = ["user", "workspace", "role"]
    list_filter = ["workspace", "role"]
    search_fields = ["user__username", "workspace__slug"]


@admin.register(ApiToken)
class ApiTokenAdmin(WorkspaceScopedAdmin):
    """Only the token's prefix is shown: its hash identifies it as well as the token does to whoever reads it."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "user__username"]
    exclude = ["token_hash"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def get_queryset(self, request):
        """A token acts in every workspace of its user: shown only when all of them are the staff user's."""
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        others = Membership.objects.exclude(workspace__in=member_workspaces(request.user)).values("user")
        return (
            queryset.filter(user__memberships__workspace__in=member_workspaces(request.user))
            .exclude(user__in=others)
            .distinct()
        )

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
class PromptArtifactAdmin(WorkspaceScopedAdmin):
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
class WorkflowAdmin(WorkspaceScopedAdmin):
    list_display = ["workflow_id", "name", "workspace", "paused", "paused_reason"]
    list_filter = ["workspace", "paused"]
    search_fields = ["workflow_id", "name"]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdmin):
    """Versions are immutable: created through the API (graph validation), deleted through it (runs survive)."""

    workspace_path = "workflow__workspace"
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
    workspace_path = "run__workspace"
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
