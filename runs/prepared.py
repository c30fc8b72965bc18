"""Raw SQL on the hot paths: a cursor whose statements PostgreSQL prepares, and values adapted as the ORM adapts them."""

from collections.abc import Callable
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet


def prepared_cursor():
    """PostgreSQL: a cursor binding parameters server-side, so psycopg prepares the statements it runs.

    Parsing and planning a hot statement can cost more than executing it; prepared (after `prepare_threshold`
    runs on a connection, see config/env.py) PostgreSQL does neither again. Django's own cursors bind
    client-side and never prepare. Wrapped as connection.cursor() wraps its cursors, so query logging,
    execute wrappers and database error translation still apply.
    """
    db = connections[DEFAULT_DB_ALIAS]  # django.db.connection looks it up again on each use: once here
    db.validate_thread_sharing()
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor: Any = psycopg.Cursor(db.connection)  # django-stubs types the argument as a wrapper
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


def hot_cursor():
    """The cursor of a hot path's statement: prepared on PostgreSQL (prepared_cursor), Django's own elsewhere."""
    db = connections[DEFAULT_DB_ALIAS]
    return prepared_cursor() if db.vendor == "postgresql" else db.cursor()


# Per connection (its backend's converters are bound to it), per column set: each column's database converters.
_converters: WeakKeyDictionary = WeakKeyDictionary()


def converted(row, columns: tuple) -> list:
    """`row`'s values as the ORM would read them into `columns`, ((table alias, field), ...) in the row's order:
    each field's database converters, looked up once per connection for a column set that lives as long as the
    process (a cached statement's), so they are found by the set's identity."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection itself, not the proxy
    by_set = _converters.setdefault(db, {})
    found = by_set.get(id(columns))
    if found is None:
        found = by_set[id(columns)] = converters_of([field.get_col(alias) for alias, field in columns], db)
    return applied(row, found, db)


def converters_of(expressions, db) -> list:
    """Each expression with the database converters the ORM applies to its values, on connection `db`."""
    return [(e, db.ops.get_db_converters(e) + e.get_db_converters(db)) for e in expressions]


def applied(row, converters: list, db) -> list:
    """`row`'s values through converters_of's converters, in order."""
    values = []
    for value, (expression, converts) in zip(row, converters, strict=True):
        for convert in converts:
            value = convert(value, expression, db)
        values.append(value)
    return values


def columns(model, alias: str, names: tuple[str, ...] | None = None, *, leaving: tuple[str, ...] = ()) -> tuple:
    """((alias, field), ...) of `model`'s concrete fields (those `names`, in the model's order), for converted and
    select_list: a statement's column set, to be built once (a cached function's result)."""
    return tuple(
        (alias, f) for f in model._meta.concrete_fields if (names is None or f.name in names) and f.name not in leaving
    )


def select_list(cols: tuple) -> str:
    q = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return ", ".join(f"{alias}.{q(f.column)}" for alias, f in cols)


def instance(model, cols: tuple, values):
    """A model instance from `values` (converted) of `cols`, as a queryset reading those columns makes it (the others
    deferred, as only() leaves them)."""
    return model.from_db(DEFAULT_DB_ALIAS, [f.attname for _, f in cols], values)


def db_datetime(moment):
    """A datetime as this database's driver takes it for a DateTimeField (a string on SQLite)."""
    return connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(moment)


SLOT = "\x00slot"  # a value's stand-in while a query is compiled: no caller binds it


class _Compilation(NamedTuple):
    sql: str
    params: list
    slot: int  # the place of the value in params
    names: list[str]  # the columns' names, as a values() queryset's rows name them
    converters: list  # per column: (its expression, its database converters)


class Compiled:
    """A queryset of one value, compiled once per connection: a hot path runs the ORM's own statement (a rule
    written once, as a queryset) without building and compiling it again on each call, and reads its rows through
    the converters the ORM would apply."""

    def __init__(self, build: Callable[[Any], QuerySet]):
        self.build = build  # the value -> the queryset
        self._by_connection: WeakKeyDictionary = WeakKeyDictionary()

    def _compilation(self) -> _Compilation:
        db = connections[DEFAULT_DB_ALIAS]
        found = self._by_connection.get(db)
        if found is None:
            query = self.build(SLOT).query
            compiler = query.get_compiler(connection=db)
            sql, params = compiler.as_sql()
            params = list(params)
            if params.count(SLOT) != 1:
                raise ValueError("A compiled query binds its value exactly once.")
            expressions = [expression for expression, _, _ in compiler.select]
            found = self._by_connection[db] = _Compilation(
                sql,
                params,
                params.index(SLOT),
                [*query.extra_select, *query.values_select, *query.annotation_select],
                converters_of(expressions, db),
            )
        return found

    def statement(self, value) -> tuple[str, list]:
        """The SQL and its parameters for `value`: to run alone, or inside a caller's statement."""
        compilation = self._compilation()
        params = list(compilation.params)
        params[compilation.slot] = value
        return compilation.sql, params

    def row(self, values) -> dict:
        """A row of it (or a caller's slice of one) as its values() queryset would give it."""
        db = connections[DEFAULT_DB_ALIAS]
        compilation = self._compilation()
        return dict(zip(compilation.names, applied(values, compilation.converters, db), strict=True))
