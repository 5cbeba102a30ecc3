"""The DNS probe against a real DNS server of the test's own on 127.0.0.1 (UDP)."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from tests.verifier.probes.dns_server import dns_server
from verifier.probes.dns_lookup import DnsProbe


def test_an_answer_is_a_good_sample_counting_its_records() -> None:
    with dns_server({"db1.lab": ["10.77.0.3", "10.77.0.13"]}) as server:
        sample = DnsProbe("resolve-db", "db1.lab", server.address, server.port, timeout=1).sample()
        asked = list(server.queries)
    assert sample.ok and sample.error is None
    assert (sample.probe, sample.status, sample.value) == ("resolve-db", 0, 2.0)
    assert sample.latency_ms is not None and 0 <= sample.latency_ms < 1000
    assert asked == [("db1.lab", "A")]  # one real query, for the name and type asked


def test_nxdomain_is_a_bad_sample_that_says_so() -> None:
    with dns_server({"db1.lab": ["10.77.0.3"]}) as server:
        sample = DnsProbe("resolve", "gone.lab", server.address, server.port, timeout=1).sample()
    assert not sample.ok
    assert (sample.status, sample.value) == (3, 0.0)
    assert sample.error == "NXDOMAIN: the name does not exist"


def test_an_empty_answer_is_a_bad_sample() -> None:
    # The server holds the name but no AAAA record: NOERROR with nothing in it.
    with dns_server({"db1.lab": ["10.77.0.3"]}) as server:
        probe = DnsProbe("v6", "db1.lab", server.address, server.port, "AAAA", timeout=1)
        sample = probe.sample()
    assert not sample.ok and (sample.status, sample.value) == (0, 0.0)
    assert sample.error == "NOERROR but no AAAA record: the name has none"


def test_a_silent_server_is_a_timeout_within_the_probes_timeout() -> None:
    with dns_server({"db1.lab": ["10.77.0.3"]}, silent={"db1.lab"}) as server:
        sample = DnsProbe("resolve", "db1.lab", server.address, server.port, timeout=0.3).sample()
        asked = list(server.queries)
    assert asked == [("db1.lab", "A")]  # the query did arrive; nothing came back
    assert not sample.ok and sample.status is None and sample.value is None
    assert sample.error == "no answer within 0.3s (timed out)"
    assert sample.latency_ms is not None and 250 <= sample.latency_ms < 1500


def test_no_server_at_the_port_is_a_bad_sample_not_an_exception() -> None:
    # The query goes out from an unconnected socket, which never hears the port-unreachable:
    # to the probe, nobody there is a server that does not answer.
    sample = DnsProbe("resolve", "db1.lab", "127.0.0.1", free_port(), timeout=0.3).sample()
    assert not sample.ok and sample.error == "no answer within 0.3s (timed out)"


@pytest.mark.parametrize(
    ("server", "query", "record_type"),
    [("db1", "db1.lab", "A"), ("127.0.0.1", "db1.lab", "ANY"), ("127.0.0.1", "a..b", "A")],
)
def test_what_the_model_refuses_is_refused_here_too(
    server: str, query: str, record_type: str
) -> None:
    # A plan built by other means than the playbook model must not get further.
    with pytest.raises(ValueError):
        DnsProbe("x", query, server, 53, record_type)
