"""http.error: a client in the peer namespace sends real HTTP requests to the target (root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from injector.faults.fault import FaultError
from injector.faults.http_error import HttpErrorFault
from injector.protocol import FaultSpec
from injector.proxy.http_fault import Request
from tests.injector.netlab import NetPair
from tests.injector.proxy_lab import WEB_PORT, ProxyLab, nft_tables, proxy_processes

REAL = "real service"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))


def http_error(pair: NetPair, **params: object) -> HttpErrorFault:
    spec = FaultSpec(run="5", step=4, attempt=1, kind="http.error",
                     params={"host": "a", "port": WEB_PORT, "status": 503, "share": 50.0,
                             "path": "/api", "abort": False, **params})  # fmt: skip
    return HttpErrorFault(spec, pair.a)


def requests(lab: ProxyLab, count: int, method: str = "GET", path: str = "/api/x") -> Any:
    return lab.client(lab.pair.b, "http", lab.pair.a, WEB_PORT, str(count), method, path)


def test_half_of_matching_requests_get_503_and_the_rest_reach_the_service(
    netpair: NetPair,
) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "web", WEB_PORT)
        assert requests(lab, 5)["statuses"] == {"200": 5}
        fault = http_error(netpair)
        fault.apply()
        try:
            assert fault.plan()["mechanism"] == "proxy"
            during = requests(lab, 200)
            other_path = requests(lab, 20, path="/health")
        finally:
            fault.revert()
        after = requests(lab, 20)
    assert set(during["statuses"]) == {"200", "503"}, during
    assert 80 <= during["statuses"]["503"] <= 120, during  # 50 % ± 10 of 200
    assert REAL in during["bodies"]
    assert other_path["statuses"] == {"200": 20}
    assert after["statuses"] == {"200": 20}
    assert nft_tables(netpair.a) == []
    assert proxy_processes(fault.workdir) == []


def test_only_the_listed_methods_fail(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "web", WEB_PORT)
        fault = http_error(netpair, share=100.0, status=502, methods=["POST"])
        fault.apply()
        try:
            gets = requests(lab, 10, method="GET")
            posts = requests(lab, 10, method="POST")
        finally:
            fault.revert()
    assert gets["statuses"] == {"200": 10}
    assert posts["statuses"] == {"502": 10}


def test_abort_drops_the_connection(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "web", WEB_PORT)
        fault = http_error(netpair, share=100.0, abort=True)
        fault.apply()
        try:
            aborted = requests(lab, 10)
        finally:
            fault.revert()
        assert requests(lab, 5)["statuses"] == {"200": 5}
    assert aborted["statuses"] == {"abort": 10}


def test_delay_comes_before_the_error(netpair: NetPair) -> None:
    with ProxyLab(netpair) as lab:
        lab.serve(netpair.a, "web", WEB_PORT)
        fault = http_error(netpair, share=100.0, delay=0.3)
        fault.apply()
        try:
            slow = requests(lab, 3)
        finally:
            fault.revert()
    assert slow["statuses"] == {"503": 3}
    assert 0.3 <= slow["slowest"] < 1.0


def test_apply_twice_is_once_and_a_fresh_fault_reverts(netpair: NetPair) -> None:
    fault = http_error(netpair)
    fault.apply()
    fault.apply()
    assert nft_tables(netpair.a) == ["drillhall_r5_s4"]
    assert len(proxy_processes(fault.workdir)) == 1
    http_error(netpair).revert()
    assert not fault.is_active()
    assert nft_tables(netpair.a) == []
    assert proxy_processes(fault.workdir) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": 200},
        {"share": 150},
        {"path": "api"},
        {"methods": ["FETCH"]},
        {"abort": "yes"},
        {"delay": -1},
        {"port": None},
        {"retries": 3},
    ],
)
def test_bad_params_are_refused_for_good(params: dict[str, object]) -> None:
    base: dict[str, object] = {"host": "a", "port": 80, "status": 503, "share": 10.0, "path": "/"}
    with pytest.raises(FaultError) as err:
        HttpErrorFault(FaultSpec("1", 1, 1, "http.error", {**base, **params}))
    assert err.value.permanent


def test_forwarded_requests_ask_the_service_to_close() -> None:
    head = b"GET http://web/api/x?q=1 HTTP/1.1\r\nHost: web\r\nConnection: keep-alive\r\n\r\n"
    request = Request.parse(head)
    assert request is not None
    assert (request.method, request.path) == ("GET", "/api/x")
    assert request.closing_head() == (
        b"GET http://web/api/x?q=1 HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"
    )
    assert Request.parse(b"\x16\x03\x01 not http\r\n\r\n") is None
