"""The demo tells the truth: its runs look like real ones (durations, tokens, costs), labelled simulated."""

from django.contrib.auth.models import User
from django.core.management import call_command

from runs.engine.executor import execute
from runs.models import Run, Step

from .builders import submit_replay


def test_the_demo_trace_has_realistic_durations_tokens_and_costs_labelled_simulated(db):
    call_command("seed_demo")
    run = Run.objects.get(pk="run_8f2c1a90")
    llm_steps = list(run.steps.filter(type="llm"))
    assert llm_steps and all(s.simulated for s in llm_steps)
    assert all(s.duration_ms >= 300 and s.input_tokens and s.output_tokens and s.cost_usd > 0 for s in llm_steps)
    assert all(s.latency_ms <= s.duration_ms for s in llm_steps)
    tools = run.steps.filter(type="tool")
    assert all(10 <= s.duration_ms < 300 for s in tools)
    steps = list(run.steps.order_by("position"))
    assert all(a.finished_at <= b.started_at for a, b in zip(steps, steps[1:], strict=False)), "one after another"
    assert run.started_at <= steps[0].started_at and steps[-1].finished_at <= run.finished_at


def test_seeding_the_demo_again_keeps_its_timings(db):
    call_command("seed_demo")
    before = list(Step.objects.order_by("pk").values_list("started_at", "finished_at", "latency_ms"))
    call_command("seed_demo")
    assert list(Step.objects.order_by("pk").values_list("started_at", "finished_at", "latency_ms")) == before


def test_seeding_the_demo_again_leaves_the_timings_of_runs_made_since_as_they_happened(
    db, django_capture_on_commit_callbacks
):
    """`make run` seeds on every start: a replay an operator made in between keeps its own times and latencies."""
    with django_capture_on_commit_callbacks(execute=True):  # the globex run executes once committed, as in `make run`
        call_command("seed_demo")
    operator = User.objects.get(username="operator")
    made = submit_replay(user=operator, run=Run.objects.get(pk="run_3d4e5f60"), request={"mode": "as_is"}).run
    execute(made.run_id)

    def timings():
        run = Run.objects.get(pk=made.run_id)
        steps = list(run.steps.order_by("position").values_list("started_at", "finished_at", "latency_ms"))
        return (run.created_at, run.started_at, run.finished_at, steps)

    before = timings()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo")
    assert timings() == before


def test_a_demo_replay_was_created_after_the_run_it_replays_finished(db):
    call_command("seed_demo")
    for replay in Run.objects.filter(replay_depth__gte=1, status="completed").select_related("replay_of"):
        assert replay.created_at > replay.replay_of.finished_at


def test_seed_demo_prints_the_address_make_run_serves_on(db, monkeypatch):
    import subprocess
    from io import StringIO

    from django.conf import settings

    dry_run = subprocess.run(
        ["make", "-n", "run", "PORT=8173"], cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    ).stdout
    seed = next(line for line in dry_run.splitlines() if "seed_demo" in line)
    assert "PORT=8173" in seed  # make run hands seed_demo the port gunicorn binds
    monkeypatch.setenv("PORT", "8173")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "http://127.0.0.1:8173/acme/ai/runs" in out.getvalue()
    assert ":8000" not in out.getvalue()
