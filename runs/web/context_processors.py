from runs.access import workspaces_of


def workspaces(request):
    return {"user_workspaces": workspaces_of(request.user) if hasattr(request, "user") else []}
