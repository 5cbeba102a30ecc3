"""Endpoints written as text: ports inside URLs, HOST:PORT and DSNs are checked, and the error
points at the port; URLs are http(s) only without credentials, DSNs name no local file or
socket and hold no password, host names and DNS names are names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from drills.playbook.model.endpoints import DnsName, Host, HostPort, HttpUrl, PostgresDsn

VALID = [
    (HttpUrl, "http://web:8080/checkout"),
    (HttpUrl, "https://[fd00::3]:443/"),
    (HttpUrl, "HTTPS://web/"),  # schemes are case-insensitive
    (HttpUrl, "http://web:/checkout"),  # an empty port is the scheme's default
    (HostPort, "10.77.0.3:6379"),
    (HostPort, "[fd00::3]:26379"),
    (HostPort, "db1:0006379"),  # leading zeros: still 6379, as a client would read it
    (PostgresDsn, "postgresql://drill@10.77.0.9/shop"),
    (PostgresDsn, "postgres://drill@db1:5432,db2:5433/shop?sslmode=disable"),
    (PostgresDsn, "postgresql://db1/shop?host=db2&sslmode=verify-full&application_name=x"),
    (PostgresDsn, "host=db1,db2 port='5432,5433' dbname=shop"),
    (PostgresDsn, "hostaddr=10.77.0.9 user=drill application_name='it\\'s' options='-c x=a'"),
    (Host, "db1"),
    (Host, "fd00::3"),
    (Host, "10.77.0.3"),
    (Host, "cache.shop.internal."),
    (DnsName, "db1.lab"),
    (DnsName, "_redis._tcp.shop.internal"),
]
# (type, text, the text from the reported offset on, message)
INVALID = [
    (HttpUrl, "http://web:70000/x", "70000/x", "port 70000 is out of range"),
    (HttpUrl, "https://[fd00::3]:0/", "0/", "port 0 is out of range"),
    (HttpUrl, "http://web:http/", "http/", "expected a port number 1..65535, found 'http'"),
    (HostPort, "db1:99999", "99999", "port 99999 is out of range"),
    (HostPort, "db1:" + "9" * 5000, "9" * 5000, "port 999999999... is out of range"),
    (PostgresDsn, "postgresql://db1:5432,db2:70000/shop", "70000/shop", "port 70000"),
    (PostgresDsn, "postgresql://db1/shop?port=0", "0", "port 0 is out of range"),
    (PostgresDsn, "host=db1 port=99999", "99999", "port 99999 is out of range"),
    (PostgresDsn, "host=a,b port='5432,0'", "0'", "port 0 is out of range"),
]


@pytest.mark.parametrize(("kind", "text"), VALID)
def test_valid_endpoints_pass(kind: Any, text: str) -> None:
    assert TypeAdapter(kind).validate_python(text) == text


@pytest.mark.parametrize(("kind", "text", "at", "message"), INVALID)
def test_a_bad_port_is_reported_at_the_port(kind: Any, text: str, at: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(text)

    (error,) = caught.value.errors()
    assert message in error["msg"]
    assert text[error["ctx"]["offset"] :] == at


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (HttpUrl, "http://:8080/checkout"),
        (HttpUrl, "ftp://web/checkout"),
        (HttpUrl, "http://[fd00::3/checkout"),
        (HostPort, "db1"),
        (PostgresDsn, "mysql://db1/shop"),
        (Host, "-e"),
        (Host, "db1 -o /etc/cron.d/x"),
        (Host, "/var/run/x"),
        (DnsName, "a..b"),
        (DnsName, "-x.lab"),
        (DnsName, "x" * 64 + ".lab"),
    ],
)
def test_an_endpoint_without_a_host_or_with_another_scheme_is_refused(kind: Any, text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(kind).validate_python(text)


# (type, text, the text from the reported offset on, message): what may not reach a probe.
REFUSED = [
    (HttpUrl, "file:///etc/passwd", "file:///etc/passwd", "expected an http:// or https:// URL"),
    (HttpUrl, "gopher://127.0.0.1:6379/_DEL", "gopher:", "expected an http:// or https:// URL"),
    (HttpUrl, "http://user:secret@web/", "user:secret@web/", "may not carry a user or password"),
    (HttpUrl, "http://web/a\nb", "\nb", "may not contain spaces or control characters"),
    (HttpUrl, "http://we\tb:8080/", "\tb:8080/", "may not contain spaces or control characters"),
    (PostgresDsn, "file:///etc/passwd", "file:", "found the scheme 'file'"),
    (PostgresDsn, "redis://db1:6379", "redis:", "found the scheme 'redis'"),
    (PostgresDsn, "host=db1 sslkeylogfile=/etc/cron.d/x", "sslkeylogfile=", "names a file"),
    (PostgresDsn, "host=db1 passfile=/root/.pgpass", "passfile=", "names a file"),
    (PostgresDsn, "service=prod host=db1", "service=", "names a file"),
    (PostgresDsn, "postgresql://db1/x?sslkey=/root/k", "sslkey=", "names a file"),
    (PostgresDsn, "host=db1 requirepeer=root", "requirepeer=", "not allowed in a canary DSN"),
    (PostgresDsn, "host=/var/run/postgresql dbname=x", "/var/run/", "is a local socket"),
    (PostgresDsn, "host='db1,@abstract'", "'db1,@abstract'", "is a local socket"),
    (PostgresDsn, "postgresql://%2Fvar%2Frun%2Fpostgresql/x", "%2Fvar", "is a local socket"),
    (PostgresDsn, "postgresql:///shop?host=/tmp", "/tmp", "is a local socket"),
    (PostgresDsn, "postgresql:///shop", "postgresql:", "names no host"),
    (PostgresDsn, "dbname=shop user=drill", "dbname=", "names no host"),
    (PostgresDsn, "hostaddr=db1", "db1", "hostaddr 'db1' is not an IP address"),
    (PostgresDsn, "host=db1 dbname='host=evil passfile=/x'", "'host=evil", "not another conn"),
    (PostgresDsn, "host=db1 port", "port", "missing '=' after 'port'"),
    (PostgresDsn, "host='db1", "'db1", "unterminated quoted string"),
    # A password is named (dsn_env, secret), never written: the error points at it.
    (PostgresDsn, "postgresql://shop:hunter2@db1/shop", "hunter2@", "a password is written"),
    (PostgresDsn, "postgresql://shop:@db1/shop", "@db1", "a password is written"),
    (PostgresDsn, "host=db1 password=hunter2", "hunter2", "a password is written"),
    (PostgresDsn, "host=db1 password = 'a b'", "'a b'", "a password is written"),
    (PostgresDsn, "postgresql://db1/shop?password=hunter2", "hunter2", "a password is written"),
]


@pytest.mark.parametrize(("kind", "text", "at", "message"), REFUSED)
def test_what_a_probe_must_not_reach_is_refused_at_the_word(
    kind: Any, text: str, at: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(text)

    (error,) = caught.value.errors()
    assert message in error["msg"]
    assert text[error["ctx"].get("offset", 0) :].startswith(at)
