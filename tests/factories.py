from functools import cache

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from runs.models import Account, Membership, PromptArtifact, PromptRevision, Workspace


@cache
def hashed_password(raw: str) -> str:
    """The production hasher's hash of `raw`, made once per session: each make_password costs PBKDF2's full
    iteration count, and users are made by the thousand. Every user made with the same password shares its salt."""
    return make_password(raw)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw", transform=hashed_password)


def make_superuser():
    """A Django superuser as createsuperuser makes one, its password hashed once per session."""
    return UserFactory(
        username="root", email="root@example.com", password="root-password-1", is_staff=True, is_superuser=True
    )


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    account = factory.SubFactory(AccountFactory)
    slug = factory.Sequence(lambda n: f"ws{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    role = "operator"


class PromptArtifactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptArtifact

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Prompt {n}")


class PromptRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptRevision

    artifact = factory.SubFactory(PromptArtifactFactory)
    content = factory.Sequence(lambda n: f"Answer {{{{ trigger.question }}}} (revision {n})")
