"""Tokens and cost for people on the trace and the runs list, the exact value in a title."""

import re
from decimal import Decimal

import pytest

from runs.models import CatalogModel
from runs.templatetags.usage import exact_usd, tokens, usd, usd_range

from .builders import finished_run, llm, support_workflow
from .factories import PromptRevisionFactory
from .provider_wire import CHAT_COMPLETIONS, MESSAGES, chat_completion, message


@pytest.mark.parametrize(
    ("count", "shown"),
    [(None, "—"), (0, "0"), (999, "999"), (1000, "1k"), (1234, "1.2k"), (999_949, "999.9k"), (3_400_000, "3.4M")],
)
def test_token_counts_are_shortened_for_people(count, shown):
    assert tokens(count) == shown


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        (None, "unknown"),
        (Decimal(0), "$0"),
        (Decimal("0.00004"), "<$0.0001"),
        (Decimal("0.016725"), "$0.0167"),
        (Decimal("0.0123"), "$0.0123"),
        (Decimal("0.5"), "$0.500"),
        (Decimal("1234.5678"), "$1,234.57"),
    ],
)
def test_costs_are_shown_with_three_significant_digits_under_a_dollar(cost, shown):
    assert usd(cost) == shown


@pytest.mark.parametrize(
    ("estimate", "shown"),
    [
        (None, "unknown"),
        ((Decimal(0), Decimal(0)), "$0"),
        ((Decimal("0.000986"), Decimal("0.0012")), "$0.000986–$0.00120"),
        ((Decimal("0.01231"), Decimal("0.01234")), "$0.0123"),
    ],
)
def test_an_estimate_is_a_range_unless_both_ends_show_the_same(estimate, shown):
    assert usd_range(estimate) == shown


def test_the_exact_cost_is_kept_for_the_title():
    assert exact_usd(Decimal("0.016725000000")) == "$0.016725"


def test_the_trace_shows_each_llm_steps_tokens_and_cost_and_the_totals(operator_client, acme, anthropic_server):
    sent = {"input_tokens": 1200, "cache_read_input_tokens": 500, "output_tokens": 250}
    anthropic_server.script(MESSAGES, [(200, message(**sent))])
    version, _ = support_workflow(acme)
    run = finished_run(version)
    cost = run.steps.get(node_id="draft").cost_usd

    html = operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    assert 'title="1,700 input tokens (500 cache read) · 250 output tokens">1.7k in · 250 out</span>' in html
    assert f'title="{exact_usd(cost)} (genai-prices' in html and f">{usd(cost)}</span>" in html
    header = html[html.index('<dl class="times">') : html.index("</dl>")]
    assert "1.7k in · 250 out" in header and usd(cost) in header


def test_an_unknown_price_is_shown_as_unknown_never_as_zero(operator_client, acme, openai_server):
    CatalogModel.objects.create(provider="openai", model_id="local-llama", model_ref="openai:local-llama")
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion(model="local-llama"))])
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Hi")
    from runs import services

    version = services.create_workflow(
        workspace=acme, name="Local", nodes=[llm("draft", revision, model="openai:local-llama")]
    )
    run = finished_run(version)

    html = operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    assert "has no price for openai:local-llama" in html and ">unknown</span>" in html
    assert "$0" not in html
    listing = operator_client.get("/acme/ai/runs").content.decode()
    assert ">unknown</span>" in listing and "$0" not in listing


def test_simulated_costs_say_so(operator_client, acme, settings):
    settings.ANTHROPIC_API_KEY = ""
    version, _ = support_workflow(acme)
    run = finished_run(version)
    html = operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    assert "(simulated)</span>" in html and "from simulated usage, not a provider's figure" in html


def test_the_runs_list_has_a_cost_column_in_one_query_for_the_page(
    operator_client, acme, settings, django_assert_max_num_queries
):
    settings.ANTHROPIC_API_KEY = ""
    version, _ = support_workflow(acme)
    runs = [finished_run(version) for _ in range(3)]
    # As test_views' bound for the list, plus the page's usage sums.
    with django_assert_max_num_queries(9):
        html = operator_client.get("/acme/ai/runs").content.decode()
    assert '<th scope="col" class="num">Cost</th>' in html
    cells = re.findall(r'<td class="num"><span class="cost" title="\$([0-9.]+)[^"]*">(\$[0-9.]+)</span>', html)
    assert len(cells) == len(runs)
    assert all(Decimal(exact) > 0 and shown.startswith("$0.") for exact, shown in cells)
