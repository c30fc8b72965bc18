"""The Django admin's node mappings: filterable by workspace, visibility and version pair, searchable by node id."""

import pytest

from mappings.models import NodeMapping, NodeMappingPair
from mappings.services import save_mapping

from .test_mappings import pair  # noqa: F401  (the fixture)

CHANGELIST = "/admin/mappings/nodemapping/"


@pytest.fixture
def two_mappings(pair, operator, viewer, acme):  # noqa: F811
    """The operator's private mapping and the workspace's shared one, which another member saved (a member's own
    shared mapping replaces their private one)."""
    _, v1, v2 = pair
    private = save_mapping(
        user=operator,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="operator",
        pairs={"draft": "compose"},
    )
    shared = save_mapping(
        user=viewer,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="workspace",
        pairs={"draft": "notify"},
    )
    return private, shared


def listed(response) -> set[int]:
    return {m.pk for m in response.context["cl"].result_list}


def test_the_changelist_filters_by_visibility(superuser_client, two_mappings):
    private, shared = two_mappings
    response = superuser_client.get(CHANGELIST, {"visibility__exact": "workspace"})
    assert response.status_code == 200 and listed(response) == {shared.pk}


def test_the_changelist_filters_by_workspace(superuser_client, two_mappings, globex):
    response = superuser_client.get(CHANGELIST, {"workspace__id__exact": globex.pk})
    assert response.status_code == 200 and listed(response) == set()


def test_the_changelist_filters_by_version_pair(superuser_client, two_mappings):
    private, _ = two_mappings
    response = superuser_client.get(
        CHANGELIST,
        {
            "source_version__id__exact": private.source_version_id,
            "target_version__id__exact": private.target_version_id,
        },
    )
    assert listed(response) == {m.pk for m in two_mappings}


def test_the_changelist_searches_by_target_node_id(superuser_client, two_mappings):
    _, shared = two_mappings
    response = superuser_client.get(CHANGELIST, {"q": "notify"})
    assert listed(response) == {shared.pk}


def test_the_change_page_shows_the_pairs_inline(superuser_client, two_mappings):
    private, _ = two_mappings
    response = superuser_client.get(f"{CHANGELIST}{private.pk}/change/")
    assert response.status_code == 200 and b"compose" in response.content


def test_the_admin_adds_and_edits_no_mapping_they_are_saved_where_their_rules_are(superuser_client, two_mappings):
    private, _ = two_mappings
    assert superuser_client.get(f"{CHANGELIST}add/").status_code == 403
    page = superuser_client.get(f"{CHANGELIST}{private.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]


def test_a_superuser_deletes_a_mapping_with_its_pairs(superuser_client, two_mappings):
    private, _ = two_mappings
    response = superuser_client.post(f"{CHANGELIST}{private.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not NodeMapping.objects.filter(pk=private.pk).exists()
    assert not NodeMappingPair.objects.filter(mapping_id=private.pk).exists()
