"""The SQL of the ingest hot path, written for the database in use.

Ingest writes go to the driver as plain SQL with tuples of values (``executemany``), not
through SQLAlchemy's per-row parameter processing, which would cost more than the
database's own work. The statements are generated from the ``Table`` definitions, so
column names have one source. SQLite and PostgreSQL share the ``ON CONFLICT`` syntax. On
SQLite a batch of rows is a few ``INSERT ... VALUES (...), (...)`` statements; on
PostgreSQL rows go through ``executemany`` (asyncpg pipelines them), and a batch of events
is one statement over one array per column (``unnest``) so that ``RETURNING`` names the
new ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

__all__ = ["SqlBuilder", "ValuesInsert", "insert_for"]


def insert_for(dialect: str) -> Any:
    """The dialect's Core ``insert`` (both offer ``on_conflict_do_nothing`` / ``_do_update``)."""

    def build(table: Table) -> Any:
        if dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    return build


def _quote(name: str) -> str:
    return f'"{name}"'


def _conflict_clause(conflict: Sequence[str], update: Mapping[str, str] | None) -> str:
    target = ", ".join(_quote(c) for c in conflict)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{_quote(c)} = {expr}" for c, expr in update.items())
    return f" ON CONFLICT ({target}) DO UPDATE SET {sets}"


def _returning(columns: Sequence[str]) -> str:
    return f" RETURNING {', '.join(_quote(c) for c in columns)}" if columns else ""


class ValuesInsert:
    """``INSERT ... VALUES`` of many rows (SQLite), in statements of ``rows_per_statement``.

    The SQL of each statement size is built once and kept (the driver caches the prepared
    statement by its text).
    """

    MAX_VARIABLES = 32_000  # SQLite's limit is 32,766 since 3.32

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        update: Mapping[str, str] | None,
        returning: Sequence[str] = (),
    ) -> None:
        self._head = (
            f"INSERT INTO {_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) VALUES "
        )
        self._row = "(" + ", ".join("?" * len(columns)) + ")"
        self._tail = _conflict_clause(conflict, update) + _returning(returning)
        self.rows_per_statement = max(1, min(500, self.MAX_VARIABLES // len(columns)))
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        """The statement for ``rows`` rows."""
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return text

    def statements(self, rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """(SQL, flat parameters) for each statement writing ``rows``."""
        step = self.rows_per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            # chain in C: a generator over ~10,000 values held the GIL for milliseconds.
            yield self.sql(len(chunk)), tuple(chain.from_iterable(chunk))


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
        values = self._placeholders(len(columns))
        return f"INSERT INTO {_quote(table.name)} ({names}) VALUES ({values})" + _conflict_clause(
            conflict, update
        )

    def insert_arrays(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        returning: Sequence[str],
        update: Mapping[str, str] | None = None,
    ) -> str:
        """PostgreSQL: all rows in one statement, one array parameter per column.

        ``returning`` (columns) of each new row (and, with ``update``, each updated one) is
        returned; without ``update`` repeats are skipped.
        """
        names = ", ".join(_quote(c) for c in columns)
        arrays = ", ".join(
            f"${i}::{table.c[c].type.compile(dialect=self._dialect)}[]"
            for i, c in enumerate(columns, 1)
        )
        return (
            f"INSERT INTO {_quote(table.name)} ({names}) SELECT * FROM unnest({arrays})"
            + _conflict_clause(conflict, update)
            + _returning(returning)
        )

    def insert_values(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        update: Mapping[str, str] | None = None,
        returning: Sequence[str] = (),
    ) -> ValuesInsert:
        """SQLite: many rows per statement (``VALUES (...), (...), ...``).

        One ``sqlite3_step`` per statement: the driver binds the values in C, and the GIL
        is released once per statement, not per row (a thread that releases it per row
        starves while another thread parses the next batch).
        """
        return ValuesInsert(table, columns, conflict, update, returning)

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
