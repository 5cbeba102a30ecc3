"""What a silence matches, and what reaches Alertmanager: pure logic, no Alertmanager.

The host goes into a regex only through re.escape, anchored by Alertmanager at both ends, so
``db1`` catches ``db1`` and ``db1:9100`` and never ``db10``; a hostile host name is a literal.
(tests/engine/test_alertmanager_api.py checks the same against the real Alertmanager.)
"""

from __future__ import annotations

import re

import pytest

from drills.engine.alertmanager import (
    AlertmanagerClient,
    AlertmanagerSilencer,
    Matcher,
    base_url,
    host_matcher,
    rfc3339,
)


def matches(matcher: Matcher, value: str) -> bool:
    """As Alertmanager matches a regex matcher: anchored at both ends (^(?:...)$)."""
    return re.fullmatch(matcher.value, value) is not None


@pytest.mark.parametrize("value", ["db1", "db1:9100", "db1:9121", "db1:1"])
def test_a_host_matcher_catches_the_host_with_or_without_a_port(value: str) -> None:
    assert matches(host_matcher("instance", "db1"), value)


@pytest.mark.parametrize(
    "value", ["db10", "db10:9100", "db1.example.com:9100", "xdb1", "db1:", "db1:http", "db", ""]
)
def test_a_host_matcher_catches_no_other_host(value: str) -> None:
    assert not matches(host_matcher("instance", "db1"), value)


def test_a_host_matcher_is_a_positive_regex_matcher_on_the_label() -> None:
    matcher = host_matcher("hostname", "db-1.lab")
    assert matcher.to_json() == {
        "name": "hostname",
        "value": r"db\-1\.lab(?::[0-9]+)?",
        "isRegex": True,
        "isEqual": True,
    }
    assert matcher.text() == 'hostname=~"db\\\\-1\\\\.lab(?::[0-9]+)?"'
    assert not matches(matcher, "db-1xlab")  # the dot is a dot


@pytest.mark.parametrize("host", ["a|.*", ".*", "(db1)", "db1)|(.*", "x{1,9}", "[a-z]+", "a\\b"])
def test_a_hostile_host_name_is_a_literal(host: str) -> None:
    matcher = host_matcher("instance", host)
    assert matches(matcher, host) and matches(matcher, host + ":9100")
    for other in ("db1", "anything", "a", "", "db1:9100"):
        assert not matches(matcher, other)


@pytest.mark.parametrize("label", ["", "1abc", "bad-label", 'x="y"', "x=~.*", "a b", "é"])
def test_a_label_name_that_is_not_one_is_refused(label: str) -> None:
    with pytest.raises(ValueError, match="is not a label name"):
        host_matcher(label, "db1")
    client = AlertmanagerClient("http://127.0.0.1:9093")
    with pytest.raises(ValueError, match="is not a label name"):
        AlertmanagerSilencer(client, label)


def test_a_silencer_says_what_its_silences_match() -> None:
    silencer = AlertmanagerSilencer(AlertmanagerClient("http://127.0.0.1:9093"), "node")
    assert silencer.describe("db1") == "node is db1 or db1:<port>"


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("", ""),
        ("  ", ""),
        ("http://127.0.0.1:9093", "http://127.0.0.1:9093"),
        ("http://am.example.org:9093/", "http://am.example.org:9093"),
        ("https://am.example.org/alertmanager/", "https://am.example.org/alertmanager"),
        ("http://am:9093/api/v2", "http://am:9093"),
        ("https://drill:s3cret@am.example.org", "https://drill:s3cret@am.example.org"),
    ],
)
def test_a_base_url_is_checked_and_tidied(raw: str, url: str) -> None:
    assert base_url(raw) == url


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("am.example.org:9093", "is not an http:// or https:// URL"),
        ("ftp://am.example.org", "is not an http:// or https:// URL"),
        ("http://", "names no host"),
        ("http://am:port", "has a port that is not a number"),
        ("http://am:9093/?x=1", "give the base URL only"),
        ("http://am:9093/#top", "give the base URL only"),
    ],
)
def test_a_bad_base_url_is_refused_with_a_sentence(raw: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        base_url(raw)


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(ValueError) as caught:
        base_url("http://drill:s3cret@am:9093/?x")
    assert "s3cret" not in str(caught.value) and "am:9093" in str(caught.value)


def test_a_client_names_its_alertmanager_without_the_password() -> None:
    client = AlertmanagerClient("https://drill:s3cret@am.example.org:9093")
    assert client.url == "https://am.example.org:9093"


def test_times_go_to_alertmanager_as_rfc3339_utc() -> None:
    assert rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"


@pytest.mark.parametrize("silence_id", ["../status", "x", "a/b", "", "1234"])
def test_only_a_silence_id_goes_into_a_path(silence_id: str) -> None:
    client = AlertmanagerClient("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="is not an Alertmanager silence id"):
        client.expire_silence(silence_id)
