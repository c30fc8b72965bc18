"""Every API request's first read, prepared: a bearer token's user and their membership of a workspace, one statement.

Through the ORM, compiling its five-table join costs half a millisecond of Python, and PostgreSQL plans it again
each time (as long again): here its text is built once per process from the models' own metadata, bound
server-side on PostgreSQL so that psycopg prepares it (config/env.py, prepare_threshold), and its row becomes
model instances through each field's database converters, as the ORM's row would.
"""

from datetime import datetime
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection

from runs.models import Account, ApiToken, Membership, Workspace
from runs.prepared import converted, hot_cursor

TOKEN_FIELDS = ("id", "last_used_at")


@cache
def _tables() -> tuple:
    return ((Membership, "m"), (get_user_model(), "u"), (Workspace, "w"), (Account, "a"))


@cache
def _columns() -> tuple:
    """(alias, field) of every column read, in the statement's order: four whole models, then the token's two."""
    columns = [(alias, field) for model, alias in _tables() for field in model._meta.concrete_fields]
    return tuple(columns + [("t", ApiToken._meta.get_field(name)) for name in TOKEN_FIELDS])


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


@cache
def _statement(vendor: str) -> str:
    user = get_user_model()
    table = {alias: connection.ops.quote_name(model._meta.db_table) for model, alias in _tables()}
    tokens = connection.ops.quote_name(ApiToken._meta.db_table)
    return (
        f"SELECT {', '.join(f'{alias}.{connection.ops.quote_name(field.column)}' for alias, field in _columns())}"
        f" FROM {table['m']} m"
        f" JOIN {table['w']} w ON w.{_column(Workspace, 'id')} = m.{_column(Membership, 'workspace')}"
        f" JOIN {table['u']} u ON u.{_column(user, 'id')} = m.{_column(Membership, 'user')}"
        f" JOIN {tokens} t ON t.{_column(ApiToken, 'user')} = u.{_column(user, 'id')}"
        f" JOIN {table['a']} a ON a.{_column(Account, 'id')} = w.{_column(Workspace, 'account')}"
        f" WHERE w.{_column(Workspace, 'slug')} = %s AND u.{_column(user, 'is_active')} = %s"
        f" AND t.{_column(ApiToken, 'token_hash')} = %s AND t.{_column(ApiToken, 'revoked_at')} IS NULL"
        " LIMIT 1"
    )


def token_membership(slug: str, token_hash: str) -> tuple[Membership, int, datetime | None] | None:
    """The membership of workspace `slug` of the active user holding unrevoked token `token_hash`, or None.

    The membership as Membership.objects.select_related("user", "workspace__account") gives it, then the
    token's pk and its last use.
    """
    with hot_cursor() as cursor:
        cursor.execute(_statement(connection.vendor), (slug, True, token_hash))
        row = cursor.fetchone()
    if row is None:
        return None
    values = converted(row, _columns())
    instances = []
    start = 0
    for model, _ in _tables():
        fields = model._meta.concrete_fields
        instances.append(
            model.from_db(connection.alias, [f.attname for f in fields], values[start : start + len(fields)])
        )
        start += len(fields)
    membership, user, workspace, account = instances
    workspace.account = account
    membership.workspace, membership.user = workspace, user
    token_pk, last_used_at = values[start:]
    return membership, token_pk, last_used_at
