"""The workspace policy a replay obeys: its declared input and its one update service."""

from typing import Annotated, Any, Self

from django.db import transaction
from pydantic import BeforeValidator, Field, model_validator

from runs.http.input import Input, invalid, parse
from runs.models import CatalogModel, Workspace

FIELDS = ("allowed_models", "allowed_providers", "replay_allow_mutations")
MAX_LIST = 500


def _string_list_or_null(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(value) > MAX_LIST:
        raise invalid("{field} must be null (no restriction) or a list of strings.")
    return sorted(set(value))


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid("{field} must be true or false.")
    return value


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


StringListOrNull = Annotated[list[str] | None, BeforeValidator(_string_list_or_null)]


class PolicyInput(Input):
    """A PUT of the policy: only the fields it names change."""

    # Omitted means unchanged: no field declares a default that a generated client would send back as a change.
    allowed_models: StringListOrNull = Field(default=None, json_schema_extra=_no_default)
    allowed_providers: StringListOrNull = Field(default=None, json_schema_extra=_no_default)
    replay_allow_mutations: Annotated[bool | None, BeforeValidator(_boolean, json_schema_input_type=bool)] = Field(
        default=None, json_schema_extra=_no_default
    )

    @model_validator(mode="before")
    @classmethod
    def only_policy_fields(cls, data: Any) -> Any:
        unknown = sorted(set(data) - set(FIELDS)) if isinstance(data, dict) else []
        if unknown:
            raise invalid(f"Unknown policy field(s): {', '.join(unknown)}.", field=unknown[0])
        return data

    @model_validator(mode="after")
    def known_models(self) -> Self:
        if self.allowed_models:
            known = set(
                CatalogModel.objects.filter(model_ref__in=self.allowed_models).values_list("model_ref", flat=True)
            )
            missing = [m for m in self.allowed_models if m not in known]
            if missing:
                raise invalid(f"allowed_models: unknown model ref(s) {', '.join(missing)}.", field="allowed_models")
        return self

    @model_validator(mode="after")
    def known_providers(self) -> Self:
        # A misspelt provider ("antropic") would block every model of the real one without a word.
        if self.allowed_providers:
            known = set(CatalogModel.objects.values_list("provider", flat=True).distinct())
            missing = [p for p in self.allowed_providers if p not in known]
            if missing:
                raise invalid(
                    f"allowed_providers: unknown provider(s) {', '.join(missing)}; the catalog's are "
                    f"{', '.join(sorted(known))}.",
                    field="allowed_providers",
                )
        return self


@transaction.atomic
def update_policy(*, workspace: Workspace, data: dict) -> Workspace:
    """Save the fields the PUT sent, and only those, on the row as it is now; `workspace` is refreshed to match.

    Two admins saving at once each read the row before the other's commit: saving every field from that read
    let one PUT undo the other's (re-enabling real mutations). The row is locked inside the transaction and
    only the sent fields are written, so concurrent PUTs of different fields both hold.
    """
    policy = parse(PolicyInput, data)
    sent = sorted(policy.model_fields_set)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    for name in sent:
        setattr(locked, name, getattr(policy, name))
    if sent:
        locked.save(update_fields=sent)
    for name in FIELDS:
        setattr(workspace, name, getattr(locked, name))
    return workspace
