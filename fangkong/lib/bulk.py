"""Writing many rows fast on both databases: executemany on SQLite, COPY on PostgreSQL,
indexes and foreign keys checked once at the end of a big load instead of row by row, and
blocks of ids reserved up front so that related rows can be written without a round trip
each. Used by the synthetic city loader and the roster import."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import connection
from django.db.models import Max


def bulk_insert(table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert rows the fastest plain way each database offers."""
    if not rows:
        return
    cols = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # noqa: S608
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608


def secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes of `table` that no constraint owns."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "LEFT JOIN pg_constraint c ON c.conindid = i.oid "
                "WHERE t.relname = %s AND c.oid IS NULL", [table])
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                           "AND tbl_name = %s AND sql IS NOT NULL", [table])
        return list(cursor.fetchall())


def _foreign_keys(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = 'f'", [table])
        return list(cursor.fetchall())


@contextmanager
def checks_deferred(tables: Sequence[str]) -> Iterator[None]:
    """Drop the secondary indexes (and on PostgreSQL the foreign keys) of `tables` and
    create them again afterwards, in the caller's transaction: building an index or
    validating a foreign key once, over all rows, is far faster than row by row. On SQLite
    the caller switches foreign keys off outside the transaction; see `sqlite_fk_off`."""
    indexes = [(name, sql) for table in tables for name, sql in secondary_indexes(table)]
    foreign = ([(table, name, sql) for table in tables for name, sql in _foreign_keys(table)]
               if connection.vendor == "postgresql" else [])
    with connection.cursor() as cursor:
        if foreign:  # run the checks still pending from earlier rows: ALTER needs none
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name, _sql in foreign:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _sql in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Index builds sort the whole table: in memory rather than in temporary files
            # (the default, 64 MB, spills at a few hundred thousand rows). For this
            # transaction only.
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        if foreign:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for _name, sql in indexes:
            cursor.execute(sql)
        for table, name, sql in foreign:  # validates every row in one pass
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {sql}')
        if connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"PRAGMA foreign_key_check({table})")
                broken = cursor.fetchall()
                if broken:
                    raise ValueError(f"{len(broken)} rows of {table} point nowhere: {broken[:3]}")


@contextmanager
def sqlite_fk_off(active: bool) -> Iterator[None]:
    """SQLite checks foreign keys row by row and the switch only works outside a
    transaction; `checks_deferred` checks them all at the end instead."""
    if not active or connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys=ON")


def analyze(tables: Sequence[str]) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def next_id(model) -> int:  # noqa: ANN001
    """One more than the highest id of `model`: the first id of a block the caller writes
    with explicit ids. Safe only while the caller holds the table's write lock (SQLite's
    IMMEDIATE transaction) or is the only writer (a bulk load); see `reserve_ids`."""
    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def reserve_ids(model, n: int) -> list[int]:  # noqa: ANN001
    """Reserve `n` ids of `model` that no concurrent writer can take. On PostgreSQL they
    are drawn from the table's sequence (in one query); on SQLite, where writers are
    serialised by the IMMEDIATE transaction the caller is in, they follow the highest id."""
    if n <= 0:
        return []
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "  # noqa: S608
                "FROM generate_series(1, %s)", [n])
            return sorted(row[0] for row in cursor.fetchall())
    first = next_id(model)
    return list(range(first, first + n))


def reset_sequences(models: Sequence) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))")


def bulk_update(model, objs: Sequence, fields: Sequence[str]) -> int:  # noqa: ANN001
    """Write `fields` of already saved objects by primary key, as one prepared UPDATE run
    for every row (executemany: pipelined on PostgreSQL, a prepared statement on SQLite).
    Django's bulk_update builds one CASE per field over the whole batch, whose cost grows
    with the square of the batch; this stays linear. Values are prepared by the model's
    fields, exactly as save() would."""
    if not objs:
        return 0
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f'"{f.column}" = %s' for f in columns)
    pk = meta.pk.column
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns]
            + [obj.pk] for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(f'UPDATE "{meta.db_table}" SET {assignments} WHERE "{pk}" = %s',  # noqa: S608
                           rows)
    return len(rows)
