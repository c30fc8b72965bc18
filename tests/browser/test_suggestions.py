"""The demo's version 2 in the mapping dialog: its renamed nodes start on their suggested targets (issue 32)."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from mappings.models import NodeMapping, SuggestionTally

from .test_mapping_and_monitoring import choose_version_2
from .test_replay_dialog import _shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_demo_preselects_triage_and_compose_reply_with_their_reasons(catalog, page_for):
    call_command("seed_demo", stdout=StringIO())
    page = page_for(get_user_model().objects.get(username="operator"))
    page.goto("/acme/ai/runs/run_8f2c1a90")
    expect(page.locator("h1")).to_have_text("run_8f2c1a90")
    choose_version_2(page)
    page.locator("#mapping-section .alert-error").get_by_role("button", name="Resolve mapping").click()
    mapping = page.locator("#mapping-modal[open]")
    expect(mapping.get_by_label("classify", exact=True)).to_have_value("triage")
    expect(mapping.get_by_label("draft", exact=True)).to_have_value("compose_reply")
    classify = mapping.locator('.mapping-row[data-node="classify"] .mapping-reasons')
    expect(classify).to_contain_text("Suggested triage (")
    expect(classify).to_contain_text("identical definition, same upstream lookup, same downstream compose_reply")
    draft = mapping.locator('.mapping-row[data-node="draft"] .mapping-reasons')
    expect(draft).to_contain_text("identical definition, same upstream triage, same downstream notify")
    first = mapping.get_by_label("classify", exact=True).locator("option").nth(1)
    expect(first).to_have_text("triage (96 %)")
    page.screenshot(path=str(_shot("mapping-suggestions-demo")))
    assert not NodeMapping.objects.exists(), "nothing is saved before the operator saves"
    mapping.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#mapping-section")).to_contain_text("Applied saved mapping: Operator (private)")
    assert NodeMapping.objects.get().pairs_dict() == {"classify": "triage", "draft": "compose_reply"}
    assert SuggestionTally.objects.get(workspace__slug="acme").accepted == 2
    assert page.errors == []
