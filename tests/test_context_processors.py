"""The workspace switcher's query runs only when a full page shows the sidebar."""

from .builders import finished_run, support_workflow
from .factories import MembershipFactory

HTMX_TABLE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "runs-table"}


def test_an_htmx_fragment_does_not_query_the_users_workspaces(operator_client, acme, django_assert_num_queries):
    finished_run(support_workflow(acme)[0])
    # session, user, membership, page of runs (no count: keyset pages), the page's costs: no workspace list
    with django_assert_num_queries(5):
        response = operator_client.get("/acme/ai/runs", **HTMX_TABLE)
    assert response.status_code == 200 and "<html" not in response.content.decode()


def test_a_full_page_lists_every_workspace_of_the_user_in_the_switcher(operator_client, operator, globex):
    MembershipFactory(user=operator, workspace=globex, role="viewer")
    html = operator_client.get("/acme/ai/runs").content.decode()
    assert 'id="workspace-switcher"' in html and "Globex (globex)" in html and "Acme (acme)" in html
