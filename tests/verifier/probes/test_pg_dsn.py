"""The DSN rules, and the playbook's reading of a DSN held against libpq's own.

The playbook model reads a DSN without libpq; if it read one differently, a keyword could hide
from the rules there. So every text below is read by both: libpq (through psycopg) and
``read_dsn`` must refuse it together or agree on every keyword and value.
"""

from __future__ import annotations

import pytest
from psycopg import Error as PsycopgError
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from verifier.probes.pg_dsn import DsnSyntaxError, check_params, read_dsn

TRICKY = [
    "host=db1 port=5432 dbname=shop",
    "  host = db1\tport=5432\ndbname=shop  ",
    "host= port=5432",  # libpq skips the blanks after '=': host is "port=5432"
    "host=db1 password='a b\\'c\\\\d' user=x",
    "host=db1 password=a\\ b",
    "host=db1 application_name=''",
    "host=db1 passfile=/root/.pgpass",
    "host=db1 sslkeylogfile='/etc/cron.d/x'",
    "host=db1 port",
    "host='db1",
    "host=db1 =x",
    "host=db1 options='-c search_path=shop'",
    "postgresql://drill@db1/shop",
    "postgresql://drill:pw@db1:5432,db2:5433/shop?sslmode=disable",
    "postgres://u:p%40ss@[fd00::3]:5432/shop",
    "postgresql://a@b@db1/shop",  # libpq takes the first '@' before '/'
    "postgresql://%2Fvar%2Frun%2Fpostgresql/shop",
    "postgresql:///shop?host=/tmp&port=5433",
    "postgresql://db1/shop?sslkey=/root/k",
    "postgresql://db1/shop?host",
    "postgresql://db1/shop?a=b=c",
    "postgresql://db1/sh%6Fp?application_name=a%20b",
    "postgresql://db1,db2:5433/shop",
    "postgresql://db1:/shop",
]


def libpq_reading(text: str) -> dict[str, str] | None:
    try:
        return {k: str(v) for k, v in conninfo_to_dict(text).items()}
    except PsycopgError:
        return None


def our_reading(text: str) -> dict[str, str] | None:
    try:
        entries = read_dsn(text)
    except DsnSyntaxError:
        return None
    return {entry.key: entry.value for entry in entries}  # the last one wins, as in libpq


# Every keyword libpq knows; it refuses others, and so do the rules (tested below).
LIBPQ_KEYWORDS = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}


@pytest.mark.parametrize("text", TRICKY)
def test_the_playbooks_reading_of_a_dsn_is_libpqs(text: str) -> None:
    theirs = libpq_reading(text)
    ours = our_reading(text)
    if theirs is None:
        assert ours is None or not set(ours) <= LIBPQ_KEYWORDS, (text, ours)
    else:
        assert ours == theirs, text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"host": "db1", "sslkeylogfile": "/etc/cron.d/x"}, "names a file"),
        ({"host": "/var/run/postgresql"}, "is a local socket"),
        ({"dbname": "shop"}, "names no host"),
        ({"host": "db1", "requirepeer": "root"}, "not allowed in a canary DSN"),
    ],
)
def test_libpqs_own_reading_is_held_to_the_same_rules(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_params(params)
    check_params({"host": "db1", "port": "5432", "dbname": "shop", "password": "x"})
