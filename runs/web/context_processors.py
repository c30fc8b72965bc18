from django.utils.functional import SimpleLazyObject

from runs.access import workspaces_of


def workspaces(request):
    """The sidebar's workspace switcher; queried only when a full page renders it, never for a fragment or poll."""
    user = getattr(request, "user", None)
    if user is None:
        return {"user_workspaces": []}
    return {"user_workspaces": SimpleLazyObject(lambda: workspaces_of(user))}
