"""The SQL that connections opened from now on run: for tests of how many statements the
writer thread runs, each of which is a wait for the GIL behind every run's threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.signals import connection_created


@contextmanager
def statements_on_new_connections() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    def watch(sender: object, connection: Any, **kwargs: object) -> None:
        connection.execute_wrappers.append(record)

    connection_created.connect(watch)
    try:
        yield statements
    finally:
        connection_created.disconnect(watch)
