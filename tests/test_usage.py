"""Usage and cost on every LLM step, from the provider's answer, priced with genai-prices' bundled data."""

from decimal import Decimal

from genai_prices import Usage, calc_price

from runs.engine.pricing import PRICE_VERSION, price
from runs.engine.providers import Usage as StepUsage
from runs.models import CatalogModel
from runs.usage import decimal_string, usage_of_run

from .builders import PAYLOAD, executed_replay, finished_run, llm, support_workflow, tool
from .factories import PromptRevisionFactory
from .provider_wire import CHAT_COMPLETIONS, MESSAGES, chat_completion, message


def genai_prices_figure(model_id, provider, at, **counts) -> Decimal:
    return calc_price(Usage(**counts), model_id, provider_id=provider, genai_request_timestamp=at).total_price


def two_llm_workflow(workspace, model):
    from runs import services

    revision = PromptRevisionFactory(artifact__workspace=workspace, content="Reply to {{ trigger.name }}")
    return services.create_workflow(
        workspace=workspace,
        name="Two calls",
        nodes=[llm("first", revision, model=model), llm("second", revision, after=["first"], model=model)],
    )


def test_a_run_against_an_anthropic_server_records_its_usage_and_the_genai_prices_cost(acme, api, anthropic_server):
    sent = {
        "input_tokens": 1200,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 500,
        "output_tokens": 250,
    }
    anthropic_server.script(MESSAGES, [(200, message(**sent))])
    version, _ = support_workflow(acme)
    run = finished_run(version)
    step = run.steps.get(node_id="draft")

    expected = genai_prices_figure(
        "claude-opus-4-7",
        "anthropic",
        step.started_at,
        input_tokens=2000,
        output_tokens=250,
        cache_read_tokens=500,
        cache_write_tokens=300,
    )
    assert step.cost_usd == expected and step.price_version == PRICE_VERSION
    assert step.raw_usage == sent and step.latency_ms is not None
    api_step = api.get(f"/api/v1/acme/runs/{run.run_id}").json()["steps"][0]
    assert api_step["usage"] == {
        "input_tokens": 2000,
        "output_tokens": 250,
        "cache_read_tokens": 500,
        "cache_write_tokens": 300,
        "reasoning_tokens": None,
    }
    assert api_step["cost_usd"] == decimal_string(expected)


def test_a_run_against_an_openai_server_records_its_usage_and_the_genai_prices_cost(acme, api, openai_server):
    sent = {
        "prompt_tokens": 900,
        "completion_tokens": 400,
        "total_tokens": 1300,
        "prompt_tokens_details": {"cached_tokens": 600},
        "completion_tokens_details": {"reasoning_tokens": 320},
    }
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion(usage=sent))])
    version = two_llm_workflow(acme, "openai:gpt-5")
    run = finished_run(version)
    first = run.steps.get(node_id="first")

    expected = genai_prices_figure(
        "gpt-5", "openai", first.started_at, input_tokens=900, output_tokens=400, cache_read_tokens=600
    )
    assert first.cost_usd == expected
    body = api.get(f"/api/v1/acme/runs/{run.run_id}").json()
    assert body["steps"][0]["usage"] == {
        "input_tokens": 900,
        "output_tokens": 400,
        "cache_read_tokens": 600,
        "cache_write_tokens": None,
        "reasoning_tokens": 320,
    }
    assert body["usage"] == {
        "input_tokens": 1800,
        "output_tokens": 800,
        "cache_read_tokens": 1200,
        "cache_write_tokens": None,
        "reasoning_tokens": 640,
    }
    assert body["cost_usd"] == decimal_string(2 * expected) and body["cost_complete"] is True


def test_a_model_the_price_data_does_not_know_has_an_unknown_cost_not_zero(acme, api, openai_server):
    CatalogModel.objects.create(provider="openai", model_id="local-llama", model_ref="openai:local-llama")
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion(model="local-llama"))])
    run = finished_run(two_llm_workflow(acme, "openai:local-llama"))

    assert run.status == "completed"
    assert {s.cost_usd for s in run.steps.all()} == {None}
    body = api.get(f"/api/v1/acme/runs/{run.run_id}").json()
    assert body["steps"][0]["cost_usd"] is None and body["steps"][0]["usage"]["input_tokens"] == 12
    assert (body["cost_usd"], body["cost_complete"]) == (None, False)
    assert body["usage"]["input_tokens"] == 24


def test_an_answer_without_usage_leaves_the_cost_unknown(acme, openai_server):
    answer = chat_completion()
    del answer["usage"]
    openai_server.script(CHAT_COMPLETIONS, [(200, answer)])
    run = finished_run(two_llm_workflow(acme, "openai:gpt-5"))
    step = run.steps.get(node_id="first")
    assert (step.input_tokens, step.raw_usage, step.cost_usd) == (None, None, None)
    assert not usage_of_run(run.run_id).cost_complete


def test_simulated_steps_get_deterministic_usage_and_a_priced_cost_marked_simulated(acme, api, settings):
    settings.ANTHROPIC_API_KEY = ""
    version, _ = support_workflow(acme)
    first, second = finished_run(version), finished_run(version)
    step = first.steps.get(node_id="draft")
    prompt = "Reply to " + PAYLOAD["name"]

    assert step.simulated and step.input_tokens == -(-len(prompt) // 4)
    assert step.output_tokens == -(-len(step.output) // 4)
    assert step.cost_usd == price("anthropic:claude-opus-4-7", _usage_of(step), step.started_at) > 0
    assert _usage_of(second.steps.get(node_id="draft")) == _usage_of(step)
    body = api.get(f"/api/v1/acme/runs/{first.run_id}").json()
    assert body["simulated"] and body["steps"][0]["simulated"] and body["cost_complete"]


def _usage_of(step) -> StepUsage:
    return StepUsage(
        input_tokens=step.input_tokens,
        output_tokens=step.output_tokens,
        cache_read_tokens=step.cache_read_tokens,
        cache_write_tokens=step.cache_write_tokens,
    )


def test_a_tool_step_has_no_usage_and_costs_nothing(acme, api):
    from runs import services

    version = services.create_workflow(
        workspace=acme, name="Tools only", nodes=[tool("lookup", "records.lookup", {"kind": "order", "key": "A1"})]
    )
    run = finished_run(version)
    body = api.get(f"/api/v1/acme/runs/{run.run_id}").json()
    assert (body["steps"][0]["usage"], body["steps"][0]["cost_usd"], body["steps"][0]["latency_ms"]) == (
        None,
        None,
        None,
    )
    assert (body["cost_usd"], body["cost_complete"]) == ("0", True)


def test_a_failed_call_is_not_billed_and_keeps_the_run_cost_known(acme, anthropic_server):
    anthropic_server.script(MESSAGES, [(400, {"type": "error", "error": {"type": "x", "message": "no"}})])
    version, _ = support_workflow(acme)
    run = finished_run(version)
    assert run.status == "failed"
    totals = usage_of_run(run.run_id)
    assert (totals.cost_usd, totals.tokens["input_tokens"]) == (Decimal(0), None)


def test_costs_are_written_as_exact_decimal_strings():
    assert decimal_string(Decimal("0.016725000000")) == "0.016725"
    assert decimal_string(Decimal("12.000000000000")) == "12"
    assert decimal_string(Decimal("0E-12")) == "0"
    assert decimal_string(None) is None


def test_a_rerun_whose_llm_steps_were_all_reused_is_not_marked_simulated(acme, operator, settings):
    settings.ANTHROPIC_API_KEY = ""
    source = finished_run(support_workflow(acme)[0])
    assert usage_of_run(source.run_id).simulated
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["notify"]})
    assert rerun.steps.get(node_id="draft").reused_from_run_id == source.run_id
    assert not usage_of_run(rerun.run_id).simulated
