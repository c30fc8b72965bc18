"""The HTML views' plumbing: membership lookup and the one place errors become pages."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseNotAllowed
from django.shortcuts import render

from .errors import Forbidden, Rejected
from .gate import gate

# By role name (the domain's Role values): the least role a view needs.
ROLE_NEEDED = {
    "viewer": "Only members of this workspace can see this page.",
    "operator": "Viewers cannot do this; ask a workspace admin for the operator role.",
    "admin": "Only workspace admins can do this.",
}


def workspace_view(methods=("GET",), role: str = "viewer", outsider_message: str | None = None):
    """Log in, resolve the membership of the URL's workspace, check the role, and render errors as pages."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                membership = gate().web_membership(request.user, slug, outsider_message)
                if not membership.has_role(role):
                    raise Forbidden(ROLE_NEEDED[role])
                return view(request, membership, *args, **kwargs)
            except Rejected as exc:
                return render_error(request, exc)

        return wrapper

    return decorator


def render_error(request, exc: Rejected):
    template = "_error_fragment.html" if request.htmx else "error.html"
    return render(request, template, {"status": exc.status, "message": exc.message}, status=exc.status)
