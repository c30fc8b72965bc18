from django.db import transaction

from runs.http.errors import BadRequest
from runs.models import CatalogModel, Workspace

FIELDS = ("allowed_models", "allowed_providers", "replay_allow_mutations")


def _string_list_or_null(data: dict, name: str):
    value = data[name]
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(value) > 500:
        raise BadRequest(f"{name} must be null (no restriction) or a list of strings.", field=name)
    return sorted(set(value))


@transaction.atomic
def update_policy(*, workspace: Workspace, data: dict) -> Workspace:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise BadRequest(f"Unknown policy field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    if "allowed_models" in data:
        models = _string_list_or_null(data, "allowed_models")
        if models is not None:
            known = set(CatalogModel.objects.filter(model_ref__in=models).values_list("model_ref", flat=True))
            missing = [m for m in models if m not in known]
            if missing:
                raise BadRequest(f"allowed_models: unknown model ref(s) {', '.join(missing)}.", field="allowed_models")
        workspace.allowed_models = models
    if "allowed_providers" in data:
        workspace.allowed_providers = _string_list_or_null(data, "allowed_providers")
    if "replay_allow_mutations" in data:
        if not isinstance(data["replay_allow_mutations"], bool):
            raise BadRequest("replay_allow_mutations must be true or false.", field="replay_allow_mutations")
        workspace.replay_allow_mutations = data["replay_allow_mutations"]
    workspace.save(update_fields=["allowed_models", "allowed_providers", "replay_allow_mutations"])
    return workspace
