"""The HTML views' plumbing: membership lookup and the one place errors become pages."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseNotAllowed
from django.shortcuts import render

from runs.access import get_membership

from .errors import Forbidden, Rejected


def workspace_view(methods=("GET",), role: str = "viewer"):
    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                membership = get_membership(request.user, slug)
                if role == "operator" and not membership.can_operate:
                    raise Forbidden("Viewers cannot do this; ask a workspace admin for the operator role.")
                return view(request, membership, *args, **kwargs)
            except Rejected as exc:
                return render_error(request, exc)

        return wrapper

    return decorator


def render_error(request, exc: Rejected):
    template = "_error_fragment.html" if request.htmx else "error.html"
    return render(request, template, {"status": exc.status, "message": exc.message}, status=exc.status)
