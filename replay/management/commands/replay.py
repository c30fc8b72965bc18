import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from replay.rules import membership_for_replay
from replay.services import preview_replay, submit_replay
from runs.http.errors import Rejected
from runs.models import Role, Run


class Command(BaseCommand):
    help = "Replay a finished run with the same rules as the dialog and the API; prints the new run id."

    def add_arguments(self, parser):
        parser.add_argument("run_id")
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--prompt", nargs=2, metavar=("ARTIFACT", "HASH"), help="Replay with this prompt revision.")
        modes.add_argument("--model", nargs=2, metavar=("ID", "REF"), help="Replay with this model.")
        parser.add_argument(
            "--target-version", type=int, help="Workflow version to replay on (default: the run's own)."
        )
        parser.add_argument("--map", action="append", default=[], metavar="OLD=NEW", help="Map a renamed node.")
        parser.add_argument(
            "--from",
            dest="from_nodes",
            action="append",
            default=[],
            metavar="NODE",
            help="Rerun from this node of the target version (repeatable); what comes before is reused.",
        )
        parser.add_argument(
            "--tools",
            choices=["live", "recorded"],
            default="live",
            help="recorded: answer every tool call from the run's recording and send none (default: live).",
        )
        parser.add_argument("--plan", action="store_true", help="Print the replay plan and submit nothing.")
        parser.add_argument(
            "--confirm-invoke",
            action="store_true",
            help="Confirm a replay whose plan really invokes mutating tool calls (required for one).",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            help="Username the replay is requested by (default: the only admin of the run's workspace).",
        )

    def handle(
        self, run_id, prompt, model, target_version, map, as_user, from_nodes, plan, confirm_invoke, tools, **options
    ):
        run = Run.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"Run {run_id} was not found.")
        if as_user:
            user = get_user_model().objects.filter(username=as_user).first()
            if user is None:
                raise CommandError(f"No user named {as_user!r}.")
        else:
            admins = list(
                get_user_model().objects.filter(
                    memberships__workspace_id=run.workspace_id, memberships__role=Role.ADMIN
                )[:2]
            )
            if len(admins) != 1:
                raise CommandError("Say who asks for the replay with --as USER.")
            user = admins[0]
        request = {"mode": "as_is", "target_version": target_version}
        if prompt:
            request.update(mode="prompt", prompt_artifact_id=prompt[0], content_hash=prompt[1])
        if model:
            request.update(mode="model", model_id=model[0], model_ref=model[1])
        pairs = [m.split("=", 1) for m in map]
        if any(len(p) != 2 for p in pairs):
            raise CommandError("--map takes OLD=NEW.")
        request["node_mapping"] = dict(pairs)
        request["from_nodes"] = from_nodes or None
        request["confirm_invoke"] = confirm_invoke
        request["tools"] = tools
        try:
            membership = membership_for_replay(user, run.workspace_id)
            if plan:
                self.print_plan(preview_replay(membership=membership, run_id=run.run_id, fields=request))
                return
            result = submit_replay(membership=membership, run_id=run.run_id, fields=request)
        except Rejected as exc:
            raise CommandError(f"{exc.status}: {exc.message}") from None
        self.stdout.write(result.run.run_id)
        if options["verbosity"] > 1:
            self.stderr.write(json.dumps({"replay_of": run_id, "mode": result.run.mode}))

    def print_plan(self, preview) -> None:
        if preview.plan is not None:
            self.stdout.write(f"plan {preview.plan.version}")
            if preview.invoking:
                names = ", ".join(f"{n.node_id} ({n.tool})" for n in preview.invoking)
                self.stdout.write(f"WILL INVOKE mutating tool calls: {names}; submit with --confirm-invoke")
            else:
                self.stdout.write("mutating tool calls: none invoked (dry-run, recorded or reused)")
            for node in preview.plan.nodes + preview.plan.dropped:
                call = (
                    f"  {node.tool}: {node.disposition}" + (f" ({node.policy})" if node.policy else "")
                    if node.tool
                    else ""
                )
                self.stdout.write(f"{node.action:6} {node.node_id}  ({node.reason}){call}")
        if preview.refusal is not None:
            raise CommandError(f"{preview.refusal.status}: {preview.refusal.message}")
