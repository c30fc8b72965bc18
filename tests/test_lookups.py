"""`any_of`: membership in a long list, bound as one array on PostgreSQL (an export binds thousands of ids a page)."""

import pytest

from runs.lookups import any_of
from runs.models import Workflow

NAMES = ["plain_name", "null", "NULL", "with,comma", 'with "quotes"', "brace}", "back\\slash", "two words", ""]


@pytest.fixture
def workflows(acme):
    return [Workflow.objects.create(workspace=acme, name=name) for name in NAMES]


def test_any_of_finds_values_an_array_literal_would_have_to_quote(workflows):
    found = Workflow.objects.filter(any_of("name", NAMES)).values_list("name", flat=True)
    assert sorted(found) == sorted(NAMES)


def test_any_of_finds_a_value_spelled_null_not_a_missing_one(workflows):
    found = Workflow.objects.filter(any_of("name", ["null", "plain_name"])).values_list("name", flat=True)
    assert sorted(found) == ["null", "plain_name"]


def test_any_of_finds_integer_keys(workflows):
    keys = [w.pk for w in workflows[:3]]
    assert sorted(Workflow.objects.filter(any_of("id", keys)).values_list("pk", flat=True)) == sorted(keys)


def test_any_of_an_empty_list_finds_nothing(workflows):
    assert not Workflow.objects.filter(any_of("name", [])).exists()
