"""The SQL of the ingest hot path, written for the database in use.

Ingest writes go to the driver as plain SQL with tuples of values (``executemany``), not
through SQLAlchemy's per-row parameter processing, which would cost more than the
database's own work. The statements are generated from the ``Table`` definitions, so
column names have one source. SQLite and PostgreSQL share the ``ON CONFLICT`` syntax. On
SQLite a batch of rows is one statement over a JSON array (``json_each``); on PostgreSQL
rows go through ``executemany`` (asyncpg pipelines them), and a batch of events is one
statement over one array per column (``unnest``) so that ``RETURNING`` names the new ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

__all__ = ["SqlBuilder", "insert_for"]


def insert_for(dialect: str) -> Any:
    """The dialect's Core ``insert`` (both offer ``on_conflict_do_nothing`` / ``_do_update``)."""

    def build(table: Table) -> Any:
        if dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    return build


def _quote(name: str) -> str:
    return f'"{name}"'


class SqlBuilder:
    """Generates ``INSERT ... ON CONFLICT`` statements for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self.postgresql = dialect.name == "postgresql"

    def _placeholders(self, count: int) -> str:
        if self.postgresql:
            return ", ".join(f"${i}" for i in range(1, count + 1))
        return ", ".join("?" * count)

    def insert(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        update: Mapping[str, str] | None = None,
    ) -> str:
        """One row per execution; ``update`` maps columns to SQL (``excluded.x`` allowed)."""
        names = ", ".join(_quote(c) for c in columns)
        target = ", ".join(_quote(c) for c in conflict)
        values = self._placeholders(len(columns))
        sql = (
            f"INSERT INTO {_quote(table.name)} ({names}) VALUES ({values})"
            f" ON CONFLICT ({target}) DO "
        )
        if not update:
            return sql + "NOTHING"
        sets = ", ".join(f"{_quote(c)} = {expr}" for c, expr in update.items())
        return sql + f"UPDATE SET {sets}"

    def insert_arrays(
        self, table: Table, columns: Sequence[str], conflict: Sequence[str], returning: str
    ) -> str:
        """PostgreSQL: all rows in one statement, one array parameter per column.

        ``returning`` (a column) of each new row is returned; repeats are skipped.
        """
        names = ", ".join(_quote(c) for c in columns)
        arrays = ", ".join(
            f"${i}::{table.c[c].type.compile(dialect=self._dialect)}[]"
            for i, c in enumerate(columns, 1)
        )
        target = ", ".join(_quote(c) for c in conflict)
        return (
            f"INSERT INTO {_quote(table.name)} ({names}) SELECT * FROM unnest({arrays})"
            f" ON CONFLICT ({target}) DO NOTHING RETURNING {_quote(returning)}"
        )

    def insert_json(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        update: Mapping[str, str] | None = None,
    ) -> str:
        """SQLite: all rows in one statement, from one JSON array of row arrays (``?``).

        One ``sqlite3_step`` for the whole batch: no per-row parameter binding in Python, and
        the GIL is released once, not per row (a thread that releases it per row starves
        while another thread parses the next batch).
        """
        names = ", ".join(_quote(c) for c in columns)
        values = ", ".join(f"value ->> {i}" for i in range(len(columns)))
        target = ", ".join(_quote(c) for c in conflict)
        # "WHERE true": SQLite's rule for an upsert on INSERT ... SELECT (parsing ambiguity).
        sql = (
            f"INSERT INTO {_quote(table.name)} ({names}) SELECT {values} FROM json_each(?)"
            f" WHERE true ON CONFLICT ({target}) DO "
        )
        if not update:
            return sql + "NOTHING"
        sets = ", ".join(f"{_quote(c)} = {expr}" for c, expr in update.items())
        return sql + f"UPDATE SET {sets}"

    def insert_rows(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        update: Mapping[str, str] | None = None,
    ) -> str:
        """The statement to write many rows at once: ``insert_json`` on SQLite, else the
        one-row ``insert`` for ``executemany``."""
        if self.postgresql:
            return self.insert(table, columns, conflict, update)
        return self.insert_json(table, columns, conflict, update)

    @staticmethod
    def coalesce_new(table: Table, column: str) -> str:
        """A new non-null value wins; a null keeps the stored one."""
        return f"COALESCE(excluded.{_quote(column)}, {_quote(table.name)}.{_quote(column)})"

    @staticmethod
    def keep_old(table: Table, column: str) -> str:
        """The stored value wins unless it is null."""
        return f"COALESCE({_quote(table.name)}.{_quote(column)}, excluded.{_quote(column)})"

    @staticmethod
    def extreme(table: Table, column: str, op: str) -> str:
        """The smaller (``op="<"``) or larger (``">"``) of stored and new."""
        new, old = f"excluded.{_quote(column)}", f"{_quote(table.name)}.{_quote(column)}"
        return f"CASE WHEN {new} {op} {old} THEN {new} ELSE {old} END"
