"""Demo data: Acme (operator/operator, admin/admin) and Globex (globex/globex). Idempotent."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from config.serving import address
from replay.rules import membership_for_replay
from replay.services import submit_replay
from runs.demo import lay_out_like_real_runs
from runs.engine.executor import execute
from runs.graph import build_nodes, parse_nodes
from runs.models import (
    Account,
    Membership,
    Node,
    PromptArtifact,
    PromptRevision,
    Run,
    Workflow,
    WorkflowVersion,
    Workspace,
)

CLASSIFY_PROMPT = "Classify this support request from {{ trigger.customer_name }}: {{ trigger.message }}"
DRAFT_V1 = "Write a short, polite reply to {{ trigger.customer_name }} about: {{ trigger.message }}"
DRAFT_V2 = (
    "You are a support agent. Reply to {{ trigger.customer_name }} in two sentences, "
    "acknowledging the issue ({{ trigger.message }}) and giving the next step."
)

# The support team's house rules, sent as the system prompt of every model call (as a real deployment would).
SUPPORT_SYSTEM = (
    "You are a support assistant for Acme, an online store. Customer {{ trigger.customer_name }} "
    "(id {{ trigger.customer_id }}) wrote to us. Be accurate, brief and kind. Never promise a refund, a "
    "replacement or a delivery date that the order system has not confirmed; say what happens next and "
    "who will do it. Do not ask for information we already have (the order number, the email address). "
    "If the customer is upset, acknowledge it in one sentence, without apologising more than once. "
    "Write plain text without markdown, greetings of more than three words or signatures; the ticketing "
    "system adds the agent's name. If a message mixes several requests, answer the most urgent one and "
    "list the others so that an agent can follow up. Categories for classification: damaged item, late "
    "delivery, refund status, billing, account access, product question, other."
)
LLM_OPTIONS = {"system": SUPPORT_SYSTEM, "max_tokens": 400}


def nodes_v1(classify, draft):
    return [
        {
            "id": "lookup",
            "type": "tool",
            "tool": "records.lookup",
            "args": {"kind": "customer", "key": "{{ trigger.customer_id }}"},
        },
        {
            "id": "classify",
            "type": "llm",
            "prompt": classify,
            "model": "anthropic:claude-sonnet-4-5",
            "after": ["lookup"],
            **LLM_OPTIONS,
        },
        {
            "id": "draft",
            "type": "llm",
            "prompt": draft,
            "model": "anthropic:claude-opus-4-7",
            "after": ["classify"],
            **LLM_OPTIONS,
        },
        {
            "id": "notify",
            "type": "tool",
            "tool": "messages.send",
            "after": ["draft"],
            "args": {"to": "{{ trigger.email }}", "body": "{{ nodes.draft.output }}"},
            "policies": {"replay": {"allowMutations": False}},
        },
        {
            "id": "log_ticket",
            "type": "tool",
            "tool": "records.create",
            "after": ["notify"],
            "args": {
                "kind": "ticket",
                "data": {"customer": "{{ trigger.customer_id }}", "category": "{{ nodes.classify.output }}"},
            },
        },
    ]


def nodes_v2(classify, draft):
    """Version 2 renames classify → triage and draft → compose_reply."""
    return [
        {
            "id": "lookup",
            "type": "tool",
            "tool": "records.lookup",
            "args": {"kind": "customer", "key": "{{ trigger.customer_id }}"},
        },
        {
            "id": "triage",
            "type": "llm",
            "prompt": classify,
            "model": "anthropic:claude-sonnet-4-5",
            "after": ["lookup"],
            **LLM_OPTIONS,
        },
        {
            "id": "compose_reply",
            "type": "llm",
            "prompt": draft,
            "model": "anthropic:claude-opus-4-7",
            "after": ["triage"],
            **LLM_OPTIONS,
        },
        {
            "id": "notify",
            "type": "tool",
            "tool": "messages.send",
            "after": ["compose_reply"],
            "args": {"to": "{{ trigger.email }}", "body": "{{ nodes.compose_reply.output }}"},
        },
        {
            "id": "log_ticket",
            "type": "tool",
            "tool": "records.create",
            "after": ["notify"],
            "args": {
                "kind": "ticket",
                "data": {"customer": "{{ trigger.customer_id }}", "category": "{{ nodes.triage.output }}"},
            },
        },
    ]


PAYLOAD = {
    "customer_id": "c-1042",
    "customer_name": "Dana",
    "email": "dana@example.com",
    "message": "My order #5521 arrived damaged.",
}


class Command(BaseCommand):
    help = "Create the demo accounts, users, workflows and runs (safe to run again)."

    def handle(self, **options):
        # Whether this seeding executed any demo run: only then are the runs laid out. `make run` seeds on every
        # start, and laying out again would move the times of the runs operators made since (their replays).
        self.executed = False
        with transaction.atomic():
            acme_runs = self.seed_acme()
            self.seed_globex()
        for run_id in acme_runs:
            run = Run.objects.get(pk=run_id)
            if run.status == Run.Status.PENDING and run.run_id not in self.leave_pending:
                execute(run_id)
                self.executed = True
        self.seed_replays()
        if self.executed:
            lay_out_like_real_runs(Run.objects.filter(workspace__slug__in=("acme", "globex")))
        self.report()

    leave_pending = {"run_0a1b2c3d"}

    def user(self, username, *, superuser=False):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        if created:
            user.set_password(username)
            user.is_staff = user.is_superuser = superuser
            user.save()
        return user

    def prompt(self, workspace, artifact_id, name, contents):
        artifact, _ = PromptArtifact.objects.get_or_create(
            artifact_id=artifact_id, defaults={"workspace": workspace, "name": name}
        )
        revisions = []
        for content in contents:
            revision = PromptRevision.objects.filter(artifact=artifact, content=content).first()
            revisions.append(revision or PromptRevision.objects.create(artifact=artifact, content=content))
        return revisions

    def version(self, workflow, number, nodes):
        version = WorkflowVersion.objects.filter(workflow=workflow, number=number).first()
        if version is None:
            specs = parse_nodes(workflow.workspace, nodes)
            version = WorkflowVersion.objects.create(workflow=workflow, number=number)
            Node.objects.bulk_create(build_nodes(version, specs))
        return version

    def run(self, run_id, workflow, version, payload, **fields):
        run = Run.objects.filter(pk=run_id).first()
        if run is None:
            run = Run.objects.create(
                run_id=run_id,
                workspace=workflow.workspace,
                workflow=workflow,
                version=version,
                version_number=version.number,
                trigger_payload=payload,
                steps_total=version.nodes.count(),
                **fields,
            )
        return run.run_id

    def seed_acme(self):
        account, _ = Account.objects.get_or_create(name="Acme")
        acme, _ = Workspace.objects.get_or_create(slug="acme", defaults={"account": account, "name": "Acme Support"})
        operator = self.user("operator")
        admin = self.user("admin", superuser=True)
        Membership.objects.get_or_create(user=operator, workspace=acme, defaults={"role": "operator"})
        Membership.objects.get_or_create(user=admin, workspace=acme, defaults={"role": "admin"})
        viewer = self.user("viewer")
        Membership.objects.get_or_create(user=viewer, workspace=acme, defaults={"role": "viewer"})
        self.classify = self.prompt(acme, "prompt_c1a55e00", "Classifier", [CLASSIFY_PROMPT])[0]
        self.draft_v1, self.draft_v2 = self.prompt(acme, "prompt_a1b2c3d4", "Reply draft", [DRAFT_V1, DRAFT_V2])
        classify = {"artifact_id": "prompt_c1a55e00", "content_hash": self.classify.content_hash}
        draft = {"artifact_id": "prompt_a1b2c3d4", "content_hash": self.draft_v1.content_hash}
        workflow, _ = Workflow.objects.get_or_create(
            workflow_id="wf_ac3e0001", defaults={"workspace": acme, "name": "Support reply"}
        )
        v1 = self.version(workflow, 1, nodes_v1(classify, draft))
        self.version(workflow, 2, nodes_v2(classify, draft))
        self.acme, self.workflow, self.operator = acme, workflow, operator
        runs = [
            self.run("run_8f2c1a90", workflow, v1, PAYLOAD),
            self.run(
                "run_3d4e5f60", workflow, v1, {**PAYLOAD, "customer_name": "Lee", "message": "Refund not received."}
            ),
            # No email in the payload: notify fails on its template.
            self.run("run_fa11ed01", workflow, v1, {"customer_id": "c-7", "customer_name": "Sam", "message": "Hello?"}),
            self.run("run_0a1b2c3d", workflow, v1, {**PAYLOAD, "customer_name": "Kim"}),
        ]
        for run_id, status in (("run_9a5ed000", "paused"), ("run_cafe0001", "cancelled")):
            if not Run.objects.filter(pk=run_id).exists():
                self.run(run_id, workflow, v1, {**PAYLOAD, "customer_name": "Alex"}, status=status)
        return runs

    def seed_globex(self):
        account, _ = Account.objects.get_or_create(name="Globex")
        globex, _ = Workspace.objects.get_or_create(slug="globex", defaults={"account": account, "name": "Globex Ops"})
        user = self.user("globex")
        Membership.objects.get_or_create(user=user, workspace=globex, defaults={"role": "operator"})
        summary = self.prompt(globex, "prompt_9b0bec55", "Summary", ["Summarise: {{ trigger.text }}"])[0]
        workflow, _ = Workflow.objects.get_or_create(
            workflow_id="wf_9b0be001", defaults={"workspace": globex, "name": "Summaries"}
        )
        version = self.version(
            workflow,
            1,
            [
                {
                    "id": "summarise",
                    "type": "llm",
                    "model": "openai:gpt-5-mini",
                    "prompt": {"artifact_id": "prompt_9b0bec55", "content_hash": summary.content_hash},
                },
            ],
        )
        run_id = self.run("run_9b0be0a1", workflow, version, {"text": "Quarterly numbers are in."})
        if Run.objects.get(pk=run_id).status == Run.Status.PENDING:
            transaction.on_commit(lambda: execute(run_id))
            self.executed = True

    def seed_replays(self):
        source = Run.objects.get(pk="run_8f2c1a90")
        if source.replays.exists() or source.status != Run.Status.COMPLETED:
            return
        membership = membership_for_replay(self.operator, source.workspace_id)

        def replay(run_id: str, fields: dict) -> str:
            new = submit_replay(membership=membership, run_id=run_id, fields=fields).run
            execute(new.run_id)
            self.executed = True
            return new.run_id

        as_is = replay(source.run_id, {"mode": "as_is"})
        replay(
            source.run_id,
            {"mode": "prompt", "prompt_artifact_id": "prompt_a1b2c3d4", "content_hash": self.draft_v2.content_hash},
        )
        replay(as_is, {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"})

    def report(self):
        base = f"http://{address()}"  # where `make run` serves (HOST, PORT), as gunicorn binds it
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"""
  Log in at {base}/login/
    operator / operator   (operator of acme)
    admin / admin         (admin of acme, Django superuser: {base}/admin/)
    viewer / viewer       (viewer of acme)
    globex / globex       (operator of globex)

  Runs of acme:       {base}/acme/ai/runs
  A trace to replay:  {base}/acme/ai/runs/run_8f2c1a90
  Monitoring:         {base}/acme/monitoring/workflow-runs
  Workflow wf_ac3e0001 "Support reply": version 2 renames classify → triage and draft → compose_reply.
""")
