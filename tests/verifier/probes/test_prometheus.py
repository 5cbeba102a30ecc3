from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.verifier.probes.servers import PrometheusStub
from verifier.assertions.evaluate import evaluate
from verifier.assertions.syntax import parse_assertion
from verifier.probes.prometheus import PrometheusProbe
from verifier.windows import SampleStore


@pytest.fixture
def prom() -> Iterator[PrometheusStub]:
    stub = PrometheusStub()
    yield stub
    stub.close()


def vector(value: str) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"job": "shop"}, "value": [1700000000.1, value]}],
        },
    }


def test_prometheus_probe_sends_the_instant_query_and_reads_a_number(
    prom: PrometheusStub,
) -> None:
    prom.document = vector("42.5")
    probe = PrometheusProbe("depth", prom.url + "/", 'sum(queue_depth{job="shop"})', 1.0)
    sample = probe.sample()
    assert sample.ok and sample.status == 200 and sample.error is None
    assert sample.value == 42.5
    path = urlsplit(prom.queries[-1])
    assert path.path == "/api/v1/query"
    assert parse_qs(path.query) == {"query": ['sum(queue_depth{job="shop"})']}


def test_prometheus_probe_reads_a_scalar(prom: PrometheusStub) -> None:
    prom.document = {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}
    probe = PrometheusProbe("n", prom.url, "scalar(3)")
    sample = probe.sample()
    assert sample.ok and sample.value == 3.0


@pytest.mark.parametrize(
    ("document", "status", "error"),
    [
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, 200, "empty"),
        (vector("NaN"), 200, "NaN"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}, 400,
         "parse error at char 4"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, 200, "matrix"),
        ("not prometheus", 200, "status is not success"),
    ],
)  # fmt: skip
def test_prometheus_probe_fails_without_a_numeric_result(
    prom: PrometheusStub, document: object, status: int, error: str
) -> None:
    prom.document, prom.status = document, status
    probe = PrometheusProbe("depth", prom.url, "up")
    sample = probe.sample()
    assert not sample.ok and sample.status == status
    assert sample.error is not None and error in sample.error
    assert sample.value is None


def test_prometheus_probe_fails_when_the_server_is_gone(prom: PrometheusStub) -> None:
    url = prom.url
    prom.close()
    sample = PrometheusProbe("depth", url, "up", timeout=0.5).sample()
    assert not sample.ok and sample.status is None
    assert sample.error is not None and "Connection" in sample.error


def test_an_sla_reads_the_values_the_probe_got_from_prometheus(prom: PrometheusStub) -> None:
    probe = PrometheusProbe("queue_depth", prom.url, "sum(queue_depth)")
    store = SampleStore()
    for depth in ("40", "180", "20"):
        prom.document = vector(depth)
        store.add(probe.sample())
    since = time.time() - 60

    def holds(text: str) -> bool | None:
        return evaluate(parse_assertion(text), store, now=time.time(), since=since).holds

    assert holds("last(queue_depth.value) == 20") is True
    assert holds("avg(queue_depth.value, 30s) < 100") is True
    assert holds("max(queue_depth.value, 30s) < 100") is False
    prom.document = {"status": "success", "data": {"resultType": "vector", "result": []}}
    failed = probe.sample()
    store.add(failed)  # a failed query has no value: it reads as no number, not as zero
    assert not failed.ok and failed.value is None
    assert holds("last(queue_depth.value) == 20") is True
    assert holds("min(queue_depth.value, 30s) == 20") is True


@pytest.mark.parametrize("url", ["gopher://127.0.0.1:6379/_DEL%20drillhall:halt", "file:///x"])
def test_a_url_other_than_http_is_refused_by_the_probe_too(url: str) -> None:
    # A plan stored with a run, or built by other means, meets the playbook's rule again.
    with pytest.raises(ValueError, match="expected an http:// or https:// URL"):
        PrometheusProbe("depth", url, "up")
