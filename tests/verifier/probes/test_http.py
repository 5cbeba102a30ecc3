"""The HTTP probe against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from drills.engine.plan import resolve_plan
from drills.playbook.parser import parse_playbook
from tests.verifier.probes.test_build import INVENTORY
from verifier.probes.http import MAX_BODY_BYTES, HttpProbe
from verifier.probes.probe import build_probe


class Site:
    """Answers every GET with ``status``, ``body`` and, when set, a ``location`` header; keeps
    the path of every request."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b""
        self.location: str | None = None
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.paths.append(self.path)
                self.send_response(site.status)
                if site.location is not None:
                    self.send_header("Location", site.location)
                self.send_header("Content-Length", str(len(site.body)))
                self.end_headers()
                try:
                    self.wfile.write(site.body)
                except OSError:
                    pass  # the probe stopped reading and closed

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_a_body_with_the_text_is_a_good_sample(site: Site) -> None:
    site.body = b'{"status": "ready", "db": "up"}'
    sample = HttpProbe("health", site.url, body_contains='"db": "up"').sample()
    assert sample.ok and sample.status == 200 and sample.error is None


def test_the_right_status_without_the_text_is_a_bad_sample(site: Site) -> None:
    site.body = b'{"status": "degraded", "db": "down"}'
    sample = HttpProbe("health", site.url, body_contains='"db": "up"').sample()
    assert not sample.ok and sample.status == 200
    assert sample.error == 'the body did not contain \'"db": "up"\' (first 64 KiB read)'


def test_text_beyond_the_bytes_read_does_not_count(site: Site) -> None:
    site.body = b"x" * MAX_BODY_BYTES + b"READY"
    assert not HttpProbe("big", site.url, body_contains="READY").sample().ok
    site.body = b"x" * (MAX_BODY_BYTES - 5) + b"READY"
    assert HttpProbe("big", site.url, body_contains="READY").sample().ok


def test_a_bad_status_is_reported_as_such_even_with_the_text(site: Site) -> None:
    site.status, site.body = 503, b"ready"
    sample = HttpProbe("health", site.url, body_contains="ready").sample()
    assert not sample.ok and sample.error == "HTTP 503"
    # An unexpected status says which, whether expect_status was given or not.
    site.status = 200
    sample = HttpProbe("health", site.url, expect_status=(204,), body_contains="ready").sample()
    assert not sample.ok and sample.error == "HTTP 200"


def test_text_outside_ascii_is_matched_as_utf8(site: Site) -> None:
    site.body = "Bestellung: bestätigt".encode()
    assert HttpProbe("shop", site.url, body_contains="bestätigt").sample().ok


def test_body_contains_reaches_the_probe_from_the_playbook(site: Site) -> None:
    playbook = parse_playbook(
        "apiVersion: drillhall/v1\nkind: Playbook\nmetadata: {name: body}\n"
        "targets: {app: {host: web}}\n"
        "probes:\n"
        f'  - name: health\n    http: {{url: "{site.url}", body_contains: "ready"}}\n'
        "steps:\n  - wait: 1s\n"
    )
    (planned,) = resolve_plan(playbook, INVENTORY).probes
    probe = build_probe(planned)
    assert isinstance(probe, HttpProbe) and probe.body_contains == "ready"
    site.body = b"not yet"
    assert not probe.sample().ok
    site.body = b"ready"
    assert probe.sample().ok


@pytest.mark.parametrize(
    "location",
    ["/elsewhere", "file:///etc/passwd", "gopher://127.0.0.1:6379/_DEL%20drillhall:halt"],
)
def test_a_redirect_is_the_answer_and_is_not_followed(site: Site, location: str) -> None:
    site.status, site.location, site.body = 302, location, b"moved"
    sample = HttpProbe("health", site.url, expect_status=(200,)).sample()
    assert (sample.ok, sample.status, sample.error) == (False, 302, "HTTP 302")
    assert site.paths == ["/health"]  # one request, to the URL written, and no other


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_x", "http://u:p@web/", "http:///x"]
)
def test_a_url_the_model_refuses_is_refused_by_the_probe_too(url: str) -> None:
    # A plan stored with a run, or built by other means, meets the same rule.
    with pytest.raises(ValueError, match="expected an http:// or https:// URL"):
        HttpProbe("x", url)
