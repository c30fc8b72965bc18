"""Renamed-node detection, saved mappings (lookup precedence, limits), the mapping API and dialog."""

import html
import json

import pytest

from mappings.detection import renamed_nodes
from mappings.models import NodeMapping, NodeMappingPair
from mappings.services import find_saved_mapping, save_mapping
from runs import services
from runs.http.errors import Rejected

from .builders import finished_run, llm, renaming_version, submit_replay, support_workflow
from .factories import MembershipFactory, PromptRevisionFactory, UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_renamed_nodes_are_those_that_ran_and_vanished():
    assert renamed_nodes(["a", "b", "c"], {"a", "c2"}) == ["b", "c"]
    assert renamed_nodes(["a"], {"a"}) == []


def test_renamed_node_detection_handles_1000_node_versions():
    ran = [f"old_{i}" for i in range(1000)]
    target = {f"new_{i}" for i in range(1000)} | {f"old_{i}" for i in range(500)}
    assert renamed_nodes(ran, target) == [f"old_{i}" for i in range(500, 1000)]


@pytest.fixture
def pair(acme):
    """A run of v1 (draft → notify) and v2 that renames draft → compose."""
    version, _ = support_workflow(acme)
    source = finished_run(version)
    return source, version, renaming_version(version, tool_id="notify")


def test_saving_again_updates_the_same_mapping(pair, operator, acme):
    source, v1, v2 = pair
    first = save_mapping(
        user=operator,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="operator",
        pairs={"draft": "compose"},
    )
    second = save_mapping(
        user=operator,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="operator",
        pairs={"draft": "notify"},
    )
    assert first.pk == second.pk and NodeMapping.objects.count() == 1
    assert second.pairs_dict() == {"draft": "notify"}


def test_sharing_a_mapping_replaces_the_members_own_private_one_of_the_pair(pair, operator, viewer, acme):
    _, v1, v2 = pair

    def save(user, visibility: str, target: str):
        return save_mapping(
            user=user,
            workspace=acme,
            source_version=v1,
            target_version=v2,
            visibility=visibility,
            pairs={"draft": target},
        )

    save(operator, "operator", "compose")
    save(viewer, "operator", "compose")
    shared = save(operator, "workspace", "notify")
    applied = find_saved_mapping(user=operator, source_version_id=v1.pk, target_version_id=v2.pk)
    assert applied is not None and applied.pk == shared.pk and applied.pairs_dict() == {"draft": "notify"}
    others = find_saved_mapping(user=viewer, source_version_id=v1.pk, target_version_id=v2.pk)
    assert others is not None and others.owner == viewer  # another member's private mapping is theirs to keep


def test_saving_1000_pairs_takes_a_constant_number_of_queries(pair, operator, acme, django_assert_max_num_queries):
    _, v1, v2 = pair
    pairs = {f"n{i}": "compose" for i in range(1000)}
    with django_assert_max_num_queries(6):
        save_mapping(
            user=operator, workspace=acme, source_version=v1, target_version=v2, visibility="workspace", pairs=pairs
        )
    assert NodeMappingPair.objects.count() == 1000


def test_more_than_1000_pairs_is_a_clear_400(pair, operator, acme):
    _, v1, v2 = pair
    with pytest.raises(Rejected) as info:
        save_mapping(
            user=operator,
            workspace=acme,
            source_version=v1,
            target_version=v2,
            visibility="operator",
            pairs={f"n{i}": "compose" for i in range(1001)},
        )
    assert info.value.status == 400 and info.value.message.startswith("A saved mapping holds up to 1000 node pairs")
    assert not NodeMapping.objects.exists()


def test_own_private_mapping_wins_over_the_shared_one(pair, operator, acme):
    _, v1, v2 = pair
    other = MembershipFactory(user=UserFactory(username="other"), workspace=acme).user
    shared = save_mapping(
        user=other,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="workspace",
        pairs={"draft": "notify"},
    )
    assert find_saved_mapping(user=operator, source_version_id=v1.pk, target_version_id=v2.pk) == shared
    own = save_mapping(
        user=operator,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="operator",
        pairs={"draft": "compose"},
    )
    assert find_saved_mapping(user=operator, source_version_id=v1.pk, target_version_id=v2.pk) == own


def test_another_operators_private_mapping_is_not_seen(pair, operator, acme):
    _, v1, v2 = pair
    other = MembershipFactory(user=UserFactory(username="other"), workspace=acme).user
    save_mapping(
        user=other,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="operator",
        pairs={"draft": "compose"},
    )
    assert find_saved_mapping(user=operator, source_version_id=v1.pk, target_version_id=v2.pk) is None


def test_a_covering_saved_mapping_is_applied_automatically(pair, operator, acme):
    source, v1, v2 = pair
    save_mapping(
        user=operator,
        workspace=acme,
        source_version=v1,
        target_version=v2,
        visibility="workspace",
        pairs={"draft": "compose"},
    )
    replay = submit_replay(user=operator, run=source, request={"mode": "as_is", "target_version": 2}).run
    assert replay.node_mapping == {"draft": "compose"}


def test_save_mapping_with_the_replay_records_it(pair, operator):
    source, _, _ = pair
    submit_replay(
        user=operator,
        run=source,
        request={
            "mode": "as_is",
            "target_version": 2,
            "node_mapping": {"draft": "compose"},
            "save_mapping": "workspace",
        },
    )
    assert NodeMapping.objects.get().visibility == "workspace"


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def mappings_url(v1, v2, workflow_id=None):
    return f"/api/v1/acme/mappings?workflow_id={workflow_id or v1.workflow.workflow_id}&source_version={v1.number}&target_version={v2.number}"


def test_mapping_api_put_then_get(api, pair):
    _, v1, v2 = pair
    response = put(api, mappings_url(v1, v2), {"visibility": "workspace", "pairs": {"draft": "compose"}})
    assert response.status_code == 200 and response.json()["pairs"] == {"draft": "compose"}
    listed = api.get(mappings_url(v1, v2)).json()["mappings"]
    assert [m["visibility"] for m in listed] == ["workspace"]


@pytest.mark.parametrize(
    "pairs,status,text",
    [
        ({"draft": "ghost"}, 422, "'ghost' is not a node of the target version"),
        ({"notify": "compose"}, 422, "'notify' is not a renamed node"),
        ({f"n{i}": "compose" for i in range(1001)}, 400, "A saved mapping holds up to 1000 node pairs"),
        (["draft"], 400, "pairs must be an object"),
    ],
)
def test_mapping_api_bad_pairs_save_nothing(api, pair, pairs, status, text):
    _, v1, v2 = pair
    response = put(api, mappings_url(v1, v2), {"pairs": pairs})
    assert response.status_code == status and text in response.json()["error"]["message"]
    assert not NodeMapping.objects.exists()


@pytest.fixture
def two_renamed(acme):
    """A run of v1 (draft → notify) and v2 that renames both: draft → compose, notify → send."""
    version, _ = support_workflow(acme)
    return finished_run(version), version, renaming_version(version, tool_id="send")


DUPLICATE = "'draft' and 'notify' both map to 'compose': a node of the target version receives one renamed node"


def test_mapping_api_refuses_two_renamed_nodes_mapped_to_one_target(api, two_renamed):
    """The replay reads one recorded step per target node: the other would be dropped while the mapping said both."""
    _, v1, v2 = two_renamed
    response = put(api, mappings_url(v1, v2), {"pairs": {"draft": "compose", "notify": "compose"}})
    assert response.status_code == 422 and DUPLICATE in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "duplicate_target" and not NodeMapping.objects.exists()


def test_a_replay_whose_node_mapping_maps_two_renamed_nodes_to_one_target_is_refused(two_renamed, operator):
    source, _, _ = two_renamed
    request = {"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "compose", "notify": "compose"}}
    with pytest.raises(Rejected) as refused:
        submit_replay(user=operator, run=source, request=request)
    assert refused.value.status == 422 and DUPLICATE in refused.value.message
    assert not source.replays.exists()


def test_mapping_dialog_refuses_two_renamed_nodes_mapped_to_one_target(operator_client, two_renamed):
    source, _, _ = two_renamed
    form = {"target_version": "2", "map:draft": "compose", "map:notify": "compose"}
    response = operator_client.post(f"/acme/ai/runs/{source.run_id}/node-mapping", form, **HTMX)
    assert response.status_code == 422 and DUPLICATE in html.unescape(response.content.decode())
    assert not NodeMapping.objects.exists()


def test_mapping_api_version_pair_of_another_workspace_is_403(outsider_api, pair):
    _, v1, v2 = pair
    response = put(outsider_api, mappings_url(v1, v2).replace("/acme/", "/globex/"), {"pairs": {"draft": "compose"}})
    assert response.status_code == 403 and not NodeMapping.objects.exists()


def test_mapping_api_viewer_cannot_save(viewer_api, pair):
    _, v1, v2 = pair
    assert put(viewer_api, mappings_url(v1, v2), {"pairs": {"draft": "compose"}}).status_code == 403


def test_mapping_dialog_lists_renamed_nodes_with_pick_target(operator_client, pair):
    source, _, _ = pair
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/node-mapping?target_version=2", **HTMX).content.decode()
    for text in (
        "Map renamed nodes.",
        "Pick target",
        "Mapping visibility",
        "Operator (private)",
        "Workspace (shared)",
        "Save mapping",
        'name="map:draft"',
        "&quot;compose&quot;",
    ):
        assert text in html, text
    assert 'value="operator" checked' in html


def test_mapping_dialog_save_fires_mapping_saved_and_the_section_then_applies_it(operator_client, pair):
    source, _, _ = pair
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/node-mapping",
        {"target_version": "2", "map:draft": "compose", "visibility": "operator"},
        **HTMX,
    )
    assert response.status_code == 200 and "mappingSaved" in response["HX-Trigger"]
    section = operator_client.get(
        f"/acme/ai/runs/{source.run_id}/replay/mapping?target_version=2", **HTMX
    ).content.decode()
    assert "Applied saved mapping: Operator (private)" in section and 'name="map:draft" value="compose"' in section


def test_replay_mapping_section_shows_the_red_alert_when_unmapped(operator_client, pair):
    source, _, _ = pair
    section = operator_client.get(
        f"/acme/ai/runs/{source.run_id}/replay/mapping?target_version=2", **HTMX
    ).content.decode()
    assert "1 renamed node(s) need mapping before this cross-version replay can run." in section
    assert "Resolve mapping" in section and 'data-unmapped="1"' in section


def test_mapping_dialog_rejects_a_partial_mapping(operator_client, pair):
    source, _, _ = pair
    response = operator_client.post(f"/acme/ai/runs/{source.run_id}/node-mapping", {"target_version": "2"}, **HTMX)
    assert response.status_code == 422 and not NodeMapping.objects.exists()


def test_mapping_dialog_for_a_viewer_is_403(client, pair, viewer):
    source, _, _ = pair
    client.force_login(viewer)
    assert (
        client.post(
            f"/acme/ai/runs/{source.run_id}/node-mapping", {"target_version": "2", "map:draft": "compose"}
        ).status_code
        == 403
    )


def test_mapping_dialog_with_500_renamed_nodes_renders_compactly(operator_client, acme, django_assert_max_num_queries):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Say hi to {{ trigger.name }}")
    nodes = [llm(f"old_{i}", revision) for i in range(500)]
    v1 = services.create_workflow(workspace=acme, name="Big", nodes=nodes)
    source = finished_run(v1)
    services.add_version(workflow=v1.workflow, nodes=[llm(f"new_{i}", revision) for i in range(500)])
    with django_assert_max_num_queries(10):
        response = operator_client.get(f"/acme/ai/runs/{source.run_id}/node-mapping?target_version=2", **HTMX)
    html = response.content.decode()
    assert html.count('class="mapping-row"') == 500 and len(html) < 400_000, (html.count("mapping-row"), len(html))


def test_the_mapping_section_tells_the_plan_panel_to_follow_it(operator_client, pair):
    """The plan must be computed with the mapping the form now holds, the one submit will send."""
    source, _, _ = pair
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}/replay/mapping?target_version=2", **HTMX)
    assert "mappingChecked" in response["HX-Trigger-After-Settle"]


def test_mapping_api_a_version_pair_given_twice_differently_is_a_400_and_saves_nothing(api, pair):
    _, v1, v2 = pair
    body = {"source_version": v2.number, "target_version": v1.number, "pairs": {"draft": "compose"}}
    response = put(api, mappings_url(v1, v2), body)
    assert response.status_code == 400 and response.json()["error"]["field"] == "source_version"
    assert not NodeMapping.objects.exists()
    same = {"workflow_id": v1.workflow.workflow_id, "source_version": v1.number, "pairs": {"draft": "compose"}}
    assert put(api, mappings_url(v1, v2), same).status_code == 200
