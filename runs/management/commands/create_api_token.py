from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from runs.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it alone on stdout (it is stored hashed, shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the token.")

    def handle(self, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        _, token = ApiToken.issue(user, name=name)
        self.stdout.write(token)
