"""The prepared token lookup gives what the ORM's select_related query gives, on either database."""

from django.utils import timezone

from runs.models import ApiToken, Membership
from runs.token_membership import token_membership


def _orm(slug: str, token_hash: str) -> Membership:
    return Membership.objects.select_related("user", "workspace__account").get(
        workspace__slug=slug, user__api_tokens__token_hash=token_hash
    )


def test_the_lookup_reads_every_field_as_the_orm_does(acme, operator):
    acme.allowed_models = ["anthropic:claude-opus-4-7"]
    acme.replay_allow_mutations = True
    acme.save()
    acme.account.allowed_models = ["openai:gpt-5"]
    acme.account.save()
    row, _ = ApiToken.issue(operator)
    row.last_used_at = timezone.now()
    row.save()
    membership, token_pk, last_used_at = token_membership("acme", row.token_hash)
    expected = _orm("acme", row.token_hash)
    assert (token_pk, last_used_at) == (row.pk, row.last_used_at)
    for ours, theirs in (
        (membership, expected),
        (membership.user, expected.user),
        (membership.workspace, expected.workspace),
        (membership.workspace.account, expected.workspace.account),
    ):
        fields = type(theirs)._meta.concrete_fields
        assert [getattr(ours, f.attname) for f in fields] == [getattr(theirs, f.attname) for f in fields]
        assert not ours._state.adding and ours._state.db == "default"


def test_a_revoked_token_an_inactive_user_or_another_workspace_finds_nothing(acme, globex, operator):
    row, _ = ApiToken.issue(operator)
    assert token_membership("globex", row.token_hash) is None
    assert token_membership("acme", "0" * 64) is None
    row.revoked_at = timezone.now()
    row.save()
    assert token_membership("acme", row.token_hash) is None
    fresh, _ = ApiToken.issue(operator)
    operator.is_active = False
    operator.save()
    assert token_membership("acme", fresh.token_hash) is None


def test_the_lookup_is_one_query(acme, operator, django_assert_num_queries):
    row, _ = ApiToken.issue(operator)
    with django_assert_num_queries(1):
        membership, _, _ = token_membership("acme", row.token_hash)
        assert membership.workspace.account.name and membership.user.username == "operator"
