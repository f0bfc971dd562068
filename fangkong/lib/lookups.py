"""`field__prefix="abc"`: a prefix match that uses an ordinary index on both databases.

Django's `startswith` is LIKE, which SQLite only runs on an index when LIKE is made
case-sensitive for the whole connection (that would silently change `iexact` and friends
everywhere). GLOB is case-sensitive by definition and uses the ordinary index, so SQLite
gets GLOB. PostgreSQL gets `(col COLLATE "C") LIKE 'x%'`, served by an index on
`(col COLLATE "C")` whatever the database's collation; `by_code_point(col)` orders rows
the same way, so that the same index also gives the order (migration residents 0002).
"""

from __future__ import annotations

from django.db.models import CharField, Lookup


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@CharField.register_lookup
class Prefix(Lookup):
    lookup_name = "prefix"
    prepare_rhs = False

    def _parts(self, compiler, connection):  # noqa: ANN001, ANN202
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return lhs, list(lhs_params), str(self.rhs)

    def as_sqlite(self, compiler, connection):  # noqa: ANN001, ANN201
        lhs, params, text = self._parts(compiler, connection)
        return f"{lhs} GLOB %s", [*params, _glob_escape(text) + "*"]

    def as_postgresql(self, compiler, connection):  # noqa: ANN001, ANN201
        lhs, params, text = self._parts(compiler, connection)
        return f'({lhs} COLLATE "C") LIKE %s', [*params, _like_escape(text) + "%"]

    def as_sql(self, compiler, connection):  # noqa: ANN001, ANN201
        lhs, params, text = self._parts(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", [*params, _like_escape(text) + "%"]


def by_code_point(field):  # noqa: ANN001, ANN201
    """Order by `field` (a name or an expression) in code point order, the order of the
    prefix indexes."""
    from django.db import connection
    from django.db.models import F
    from django.db.models.functions import Collate

    expression = F(field) if isinstance(field, str) else field
    return Collate(expression, "C") if connection.vendor == "postgresql" else expression
