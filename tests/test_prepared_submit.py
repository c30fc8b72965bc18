"""A submit's prepared reads and writes: the source row as _source_rows locks it, the run as save() inserts it."""

from django.db import transaction

from replay.services import _locked_source, _source_rows
from runs.idempotency import insert_run
from runs.models import Run

from .builders import PAYLOAD, finished_run, support_workflow


def _loaded(run: Run) -> dict:
    return {f.attname: getattr(run, f.attname) for f in Run._meta.concrete_fields if f.attname in run.__dict__}


def test_the_locked_source_reads_what_the_orm_query_reads(acme):
    source = finished_run(support_workflow(acme)[0])
    with transaction.atomic():
        ours, theirs = _locked_source(source.run_id), _source_rows().get(pk=source.run_id)
    assert ours is not None and _loaded(ours) == _loaded(theirs)
    assert ours.get_deferred_fields() == theirs.get_deferred_fields()
    assert ours.workflow.get_deferred_fields() == theirs.workflow.get_deferred_fields()
    assert (ours.workflow.pk, ours.workflow.paused) == (theirs.workflow.pk, theirs.workflow.paused)


def test_an_unknown_source_reads_as_none(db):
    with transaction.atomic():
        assert _locked_source("run_deadbeef") is None


def test_a_run_inserted_prepared_is_stored_as_save_stores_it(acme):
    version, _ = support_workflow(acme)
    source = finished_run(version)

    def replay() -> Run:
        return Run(
            workspace_id=acme.pk,
            workflow_id=version.workflow_id,
            version=version,
            version_number=version.number,
            trigger_payload={**PAYLOAD, "note": 'é "q"'},
            replay_of=source,
            replay_depth=1,
            mode="as_is",
            overrides={"prompt": None},
            node_mapping={"a": "b"},
            replay_plan={"version": "v1", "nodes": {"draft": {"action": "execute"}}},
            from_nodes=["draft"],
            tools="recorded",
        )

    ours, theirs = replay(), replay()
    insert_run(ours)
    theirs.save(force_insert=True)
    assert not ours._state.adding and ours._state.db == "default"
    stored = {r.run_id: r for r in Run.objects.filter(pk__in=[ours.pk, theirs.pk])}
    skip = {"run_id", "created_at"}
    assert {k: v for k, v in _loaded(stored[ours.pk]).items() if k not in skip} == {
        k: v for k, v in _loaded(stored[theirs.pk]).items() if k not in skip
    }
    assert stored[ours.pk].created_at == ours.created_at


def test_a_receiver_of_runs_save_signal_makes_the_insert_go_through_save(acme):
    """The prepared insert is save()'s INSERT only while save() does nothing more: a receiver added later is heard."""
    from django.db.models.signals import post_save

    source = finished_run(support_workflow(acme)[0])
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.run_id, created))

    post_save.connect(receiver, sender=Run)
    try:
        run = Run(
            workspace=source.workspace,
            workflow=source.workflow,
            version=source.version,
            version_number=source.version_number,
            trigger_payload={},
        )
        insert_run(run)
    finally:
        post_save.disconnect(receiver, sender=Run)
    assert heard == [(run.run_id, True)] and Run.objects.filter(pk=run.run_id).exists()
