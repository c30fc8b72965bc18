import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from replay.cohorts.models import Cohort
from replay.cohorts.reading import cohort_dict
from replay.cohorts.services import cancel_cohort, cohort_for_member, create_cohort
from replay.cohorts.shapes import Cohort as CohortShape
from replay.rules import membership_for_replay
from runs.http.api import ROLE_NEEDED
from runs.http.errors import Rejected
from runs.http.input import parse_json
from runs.models import Role, Workspace


class Command(BaseCommand):
    help = "Create, show or cancel a replay cohort with the API's body and rules."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a cohort from a JSON body (the API's); prints its id.")
        create.add_argument("workspace", help="The workspace's slug.")
        create.add_argument("body", help="A file holding the JSON body, or - for stdin.")
        create.add_argument("--idempotency-key", default="")
        show = actions.add_parser("show", help="Print a cohort with its counts and verdict as JSON.")
        show.add_argument("cohort_id")
        cancel = actions.add_parser("cancel", help="Stop admitting the cohort's members.")
        cancel.add_argument("cohort_id")
        cancel.add_argument("--cancel-running", action="store_true", help="Also cancel its running replays.")
        for sub in (create, show, cancel):
            sub.add_argument("--as", dest="as_user", required=True, help="The member acting (their role applies).")

    def handle(self, action, as_user, **options):
        user = get_user_model().objects.filter(username=as_user).first()
        if user is None:
            raise CommandError(f"No user named {as_user!r}.")
        try:
            if action == "create":
                self.create(user, options)
            else:
                self.on_cohort(user, action, options)
        except Rejected as exc:
            raise CommandError(f"{exc.status}: {exc.message}") from None

    def create(self, user, options) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace {options['workspace']!r}.")
        data = parse_json(self.read_body(options["body"]))
        membership = membership_for_replay(user, workspace.pk)
        if not membership.can_operate:
            raise CommandError(f"403: {ROLE_NEEDED[Role.OPERATOR]}")
        cohort, _ = create_cohort(membership=membership, data=data, idempotency_key=options["idempotency_key"])
        self.stdout.write(cohort.cohort_id)

    @staticmethod
    def read_body(path: str) -> str:
        """The body file's text (stdin for -), or a CommandError naming why it cannot be read: never a traceback."""
        try:
            if path == "-":
                return sys.stdin.read()
            with open(path, encoding="utf-8") as source:
                return source.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"Cannot read {path}: it is not UTF-8 text.") from None

    def on_cohort(self, user, action, options) -> None:
        workspace_id = Cohort.objects.filter(pk=options["cohort_id"]).values_list("workspace_id", flat=True).first()
        if workspace_id is None:
            raise CommandError(f"Cohort {options['cohort_id']} was not found.")
        membership = membership_for_replay(user, workspace_id)
        if action == "cancel":
            if not membership.can_operate:
                raise CommandError(f"403: {ROLE_NEEDED[Role.OPERATOR]}")
            cancel_cohort(
                membership=membership, cohort_id=options["cohort_id"], cancel_running=options["cancel_running"]
            )
        cohort = cohort_dict(cohort_for_member(membership, options["cohort_id"]))
        self.stdout.write(json.dumps(CohortShape.model_validate(cohort).model_dump(mode="json"), indent=2))
