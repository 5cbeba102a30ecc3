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


@contextmanager
def statements_of_the_writer() -> Iterator[list[str]]:
    """The SQL the process's writer thread (drills/web/group_commit.py) runs meanwhile: the
    wrapper is put on its connection by a unit of work, which runs on that thread."""
    from django.db import connection

    from drills.web.group_commit import committed

    statements: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    committed(lambda: connection.execute_wrappers.append(record))
    try:
        yield statements
    finally:
        committed(lambda: connection.execute_wrappers.remove(record))
