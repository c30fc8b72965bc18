"""Who may do what: accounts, workspaces (with their policy), memberships and API tokens."""

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from .catalog import CatalogModel


class Account(models.Model):
    """An organisation. Its model allowlist bounds every workspace's."""

    name = models.CharField(max_length=200, unique=True)
    allowed_models = models.JSONField(null=True, blank=True, help_text="Model refs; empty = no restriction.")

    def __str__(self):
        return self.name


class Workspace(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="workspaces")
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    # Policy. null = no restriction.
    allowed_models = models.JSONField(null=True, blank=True, help_text="Model refs; empty = no restriction.")
    allowed_providers = models.JSONField(null=True, blank=True, help_text="Providers; empty = no restriction.")
    replay_allow_mutations = models.BooleanField(
        default=False, help_text="policies.replay.allowMutations for every node without its own policy."
    )

    def __str__(self):
        return self.slug

    def model_is_available(self, model: "CatalogModel") -> bool:
        if model.retired:
            return False
        for allowlist in (self.account.allowed_models, self.allowed_models):
            if allowlist is not None and model.model_ref not in allowlist:
                return False
        return True

    def provider_is_allowed(self, provider: str) -> bool:
        return self.allowed_providers is None or provider in self.allowed_providers

    def model_refusal(self, model: "CatalogModel") -> str | None:
        """Why this workspace may not use `model` (None: it may), by the rules replay's check_model applies:
        `retired`, `not_in_allowlist` (the account's or the workspace's) or `provider_blocked`."""
        if not self.model_is_available(model):
            return "retired" if model.retired else "not_in_allowlist"
        if not self.provider_is_allowed(model.provider):
            return "provider_blocked"
        return None

    def policy_dict(self) -> dict:
        return {
            "allowed_models": self.allowed_models,
            "allowed_providers": self.allowed_providers,
            "replay_allow_mutations": self.replay_allow_mutations,
        }


class Role(models.TextChoices):
    """Each role may do all that the roles before it may."""

    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


ROLE_ORDER = list(Role)


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OPERATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique_user_workspace"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_valid_role"),
        ]

    def __str__(self):
        return f"{self.user} @ {self.workspace} ({self.role})"

    def has_role(self, least: Role) -> bool:
        """Whether this member holds `least` or a role above it."""
        return ROLE_ORDER.index(Role(self.role)) >= ROLE_ORDER.index(least)

    @property
    def can_operate(self) -> bool:
        return self.has_role(Role.OPERATOR)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    @classmethod
    def issue(cls, user, name: str = "") -> tuple["ApiToken", str]:
        token = "rp_" + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name, prefix=token[:10], token_hash=cls.hash(token))
        return row, token
