"""`field__any_of=[...]`: membership in a list of many values, bound as one parameter on PostgreSQL.

`__in` binds, adapts and quotes each value apart: for a page of 200 run ids (an export reads five hundred such pages)
that costs more than the query. `= ANY(%s)` binds the list once as an array; SQLite, which has no arrays, gets `IN`.
"""

import re
from collections.abc import Iterable

from django.db.models import CharField, F, ForeignKey, Lookup

# Values an array literal holds as they are: no quotes, separators or braces, and not the word NULL.
BARE_VALUES = re.compile(r"[A-Za-z0-9_]+(?:\x00[A-Za-z0-9_]+)*")
NULL_VALUE = re.compile(r"(?:^|\x00)null(?:\x00|$)", re.IGNORECASE)


def _array_literal(values: list) -> str | None:
    """The values as one PostgreSQL array literal (`{run_1,run_2}`) when none needs quoting (ids: integers and
    `run_` hex): one string to bind, where psycopg quotes an array's values one by one in Python."""
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    if not all(type(value) is str for value in values):
        return None
    joined = "\x00".join(values)
    if not BARE_VALUES.fullmatch(joined) or NULL_VALUE.search(joined):
        return None
    return "{" + joined.replace("\x00", ",") + "}"


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []  # nothing is a member of an empty list (`= ANY('{}')` would do, IN () is invalid)
        if connection.vendor == "postgresql":
            literal = _array_literal(values)
            if literal is not None:
                array_type = self.lhs.output_field.cast_db_type(connection)
                return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, literal]
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def any_of(field: str, values: Iterable) -> AnyOf:
    """`filter(any_of("run_id", ids))`: `run_id__any_of=ids` built as the lookup itself, so Django neither resolves
    nor type-checks the list value by value (a foreign key's lookup checks each one), which for an export's page of
    thousands of ids costs more than the query."""
    return AnyOf(F(field), list(values))


def register() -> None:
    for field in (CharField, ForeignKey):
        field.register_lookup(AnyOf)
