"""The Django admin shows workflow versions and their nodes, and refuses to change them: runs executed them."""

import pytest

from runs.models import Node, WorkflowVersion

from .builders import support_workflow


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def change_url(version) -> str:
    return f"/admin/runs/workflowversion/{version.pk}/change/"


def nodes_of(version) -> list[tuple]:
    return list(Node.objects.filter(version=version).values_list("node_id", "type", "config", "after", "policies"))


def test_a_version_page_shows_its_nodes_without_a_form_to_edit_them(superuser_client, version):
    html = superuser_client.get(change_url(version)).content.decode()
    assert all(node_id in html for node_id, *_ in nodes_of(version))
    assert 'name="nodes-0-node_id"' not in html and 'name="nodes-0-config"' not in html
    assert 'name="_save"' not in html and 'name="nodes-0-DELETE"' not in html
    assert 'name="nodes-MAX_NUM_FORMS" value="0"' in html  # no node can be added


def test_posting_a_changed_node_to_a_version_is_403_and_changes_nothing(superuser_client, version):
    before = nodes_of(version)
    node = Node.objects.filter(version=version).first()
    response = superuser_client.post(
        change_url(version),
        {
            "workflow": version.workflow_id,
            "number": version.number,
            "nodes-TOTAL_FORMS": "1",
            "nodes-INITIAL_FORMS": "1",
            "nodes-0-id": node.pk,
            "nodes-0-version": version.pk,
            "nodes-0-node_id": "edited",
            "nodes-0-type": "tool",
            "nodes-0-config": "{}",
            "nodes-0-after": "[]",
            "nodes-0-policies": "{}",
        },
    )
    assert response.status_code == 403
    assert nodes_of(version) == before


def test_the_admin_cannot_add_a_version(superuser_client, version):
    assert superuser_client.get("/admin/runs/workflowversion/add/").status_code == 403
    changelist = superuser_client.get("/admin/runs/workflowversion/").content.decode()
    assert "/admin/runs/workflowversion/add/" not in changelist


def test_the_admin_cannot_delete_a_version_and_its_nodes(superuser_client, version):
    assert (
        superuser_client.post(f"/admin/runs/workflowversion/{version.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert WorkflowVersion.objects.filter(pk=version.pk).exists() and nodes_of(version)


def test_the_version_list_still_lists_versions_for_inspection(superuser_client, version):
    response = superuser_client.get("/admin/runs/workflowversion/")
    assert response.status_code == 200 and str(version.workflow) in response.content.decode()


def test_the_admin_index_names_its_models_in_plural_english(superuser_client):
    html = superuser_client.get("/admin/").content.decode()
    assert "Suggestion tallies" in html and "Deliveries" in html
    assert "tallys" not in html and "Deliverys" not in html


def test_the_favicon_asked_for_by_pages_that_name_none_is_the_apps_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and "favicon" in response["Location"] and response["Location"].endswith(".svg")
