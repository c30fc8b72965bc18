"""The Django admin's node mappings: filterable by workspace, visibility and version pair, searchable by node id."""

import pytest

from mappings.models import NodeMapping
from mappings.services import save_mapping

from .factories import UserFactory
from .test_mappings import pair  # noqa: F401  (the fixture)

CHANGELIST = "/admin/mappings/nodemapping/"


@pytest.fixture
def superuser_client(db, client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


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


def add_form(workspace, source, target, owner, pairs: dict[str, str]) -> dict:
    """The admin's add form as a browser posts it, the pairs inline."""
    data = {
        "workspace": workspace.pk,
        "source_version": source.pk,
        "target_version": target.pk,
        "visibility": "workspace",
        "owner": owner.pk,
        "pair_count": len(pairs),
        "created_at_0": "2026-12-01",
        "created_at_1": "09:00:00",
        "updated_at_0": "2026-12-01",
        "updated_at_1": "09:00:00",
        "pairs-TOTAL_FORMS": len(pairs),
        "pairs-INITIAL_FORMS": 0,
        "pairs-MIN_NUM_FORMS": 0,
        "pairs-MAX_NUM_FORMS": 1000,
    }
    for i, (source_node, target_node) in enumerate(pairs.items()):
        data[f"pairs-{i}-source_node_id"] = source_node
        data[f"pairs-{i}-target_node_id"] = target_node
    return data


def test_the_admin_adds_a_mapping_the_dialog_would_save(superuser_client, pair, operator, acme):  # noqa: F811
    _, v1, v2 = pair
    response = superuser_client.post(f"{CHANGELIST}add/", add_form(acme, v1, v2, operator, {"draft": "compose"}))
    assert response.status_code == 302
    added = NodeMapping.objects.get()
    assert added.pairs_dict() == {"draft": "compose"} and added.pair_count == 1


def test_the_admin_refuses_a_mapping_of_another_workspaces_versions(superuser_client, pair, operator, globex):  # noqa: F811
    _, v1, v2 = pair
    response = superuser_client.post(f"{CHANGELIST}add/", add_form(globex, v1, v2, operator, {"draft": "compose"}))
    assert response.status_code == 200
    assert "belongs to another workspace than this mapping" in response.content.decode()
    assert not NodeMapping.objects.exists()


def test_the_admin_refuses_pairs_the_dialog_would_refuse(superuser_client, pair, operator, acme):  # noqa: F811
    _, v1, v2 = pair
    response = superuser_client.post(f"{CHANGELIST}add/", add_form(acme, v1, v2, operator, {"nope": "also_nope"}))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.non_form_errors() == ["pairs: 'nope' is not a renamed node of this replay."]
    assert not NodeMapping.objects.exists()
