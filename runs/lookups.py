"""`field__any_of=[...]`: membership in a list of many values, bound as one parameter on PostgreSQL.

`__in` binds, adapts and quotes each value apart: for a page of 200 run ids (an export reads five hundred such pages)
that costs more than the query. `= ANY(%s)` binds the list once as an array; SQLite, which has no arrays, gets `IN`.
"""

from django.db.models import CharField, ForeignKey, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []  # nothing is a member of an empty list (`= ANY('{}')` would do, IN () is invalid)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    for field in (CharField, ForeignKey):
        field.register_lookup(AnyOf)
