"""An Alertmanager of the demo's and the tests' own: Debian's ``prometheus-alertmanager``
(installed by ``make setup``), on loopback, clustering off, its configuration and silences in a
directory of the caller's.

Not the product: a real deployment points DRILLHALL_ALERTMANAGER_URL at the Alertmanager its
Prometheus already sends to (docs/deploy.md). Debian's own service is never started.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from drills.lab.lab_error import LabError

# Debian names the binary prometheus-alertmanager; upstream's tarball names it alertmanager.
BINARIES = ("prometheus-alertmanager", "alertmanager")
READY_TIMEOUT_S = 15.0
# Every alert goes to one receiver that sends nothing: the demo has nobody to page.
CONFIG = """\
# Written by Drillhall for its demo: alerts are received and shown, never sent anywhere.
route:
  receiver: nobody
receivers:
  - name: nobody
"""


def binary() -> str | None:
    """The Alertmanager on PATH, or None."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def argv(program: str, config: Path, storage: Path, port: int) -> list[str]:
    """Alertmanager on 127.0.0.1:``port`` alone: an empty cluster address turns gossip off,
    so it opens no second port and looks for no peers."""
    return [
        program,
        f"--config.file={config}",
        f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = READY_TIMEOUT_S
) -> None:
    """Until ``url``/-/ready answers 200; LabError with the log's end if it dies or never does."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise LabError(f"alertmanager exited with status {proc.returncode}; its log:\n{tail}")
        try:
            with opener.open(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LabError(
                f"alertmanager did not answer at {url} within {timeout:g} s (its log: {log})"
            )
        time.sleep(0.1)


def write_config(directory: Path) -> Path:
    """The demo's configuration file in ``directory`` (rewritten each time: it is ours)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "alertmanager.yml"
    path.write_text(CONFIG)
    return path
