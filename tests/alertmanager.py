"""A real Alertmanager for tests: Debian's prometheus-alertmanager on a free loopback port,
with tests/fixtures/alertmanager/alertmanager.yml and its storage in a test's directory.

On CI a machine without it fails the test (``require``): `make setup` installs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drills.lab import local_alertmanager
from tests.conftest import free_port, require

CONFIG = Path(__file__).resolve().parent / "fixtures" / "alertmanager" / "alertmanager.yml"


def require_alertmanager() -> str:
    program = local_alertmanager.binary()
    require(
        program is not None,
        "needs Alertmanager (Debian's prometheus-alertmanager; make setup installs it)",
    )
    assert program is not None
    return program


@contextmanager
def running_alertmanager(directory: Path) -> Iterator[str]:
    """Its base URL while it runs; stopped (and its process gone) afterwards."""
    program = require_alertmanager()
    port = free_port()
    log = directory / "alertmanager.log"
    argv = local_alertmanager.argv(program, CONFIG, directory / "alertmanager-data", port)
    proc = subprocess.Popen(  # noqa: S603 (fixed argv)
        argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        local_alertmanager.wait_ready(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def api(url: str, path: str, body: Any = None) -> Any:
    """Alertmanager's own API, read (or written) directly, not through Drillhall's client."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None
