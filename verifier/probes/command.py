"""Command probe: run an allowlisted client (argv, no shell); exit status 0 is a good sample."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from verifier.windows import Sample

# Binaries a command probe may run: read-only clients, nothing that can change a host. Defined
# here, where it is enforced; the playbook model imports it to refuse others at parse time.
COMMAND_ALLOWLIST = ("curl", "dig", "redis-cli", "pg_isready", "nc", "ping", "true", "false")


class CommandNotAllowed(ValueError):
    pass


@dataclass(frozen=True)
class CommandProbe:
    name: str
    argv: tuple[str, ...]
    timeout: float = 5.0

    def __post_init__(self) -> None:
        # The playbook model checks this too; a plan built by other means must not bypass it.
        if not self.argv or self.argv[0] not in COMMAND_ALLOWLIST:
            binary = self.argv[0] if self.argv else ""
            raise CommandNotAllowed(
                f"probe {self.name}: '{binary}' is not an allowed probe command; "
                f"allowed: {', '.join(COMMAND_ALLOWLIST)}"
            )

    def sample(self) -> Sample:
        start = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            done = subprocess.run(
                list(self.argv),
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            status = done.returncode
            if status != 0:
                tail = (done.stderr.strip() or done.stdout.strip()).splitlines()
                error = f"exit {status}" + (f": {tail[-1]}" if tail else "")
        except subprocess.TimeoutExpired:
            error = f"timed out after {self.timeout:g}s"
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        latency_ms = (time.monotonic() - start) * 1000.0
        return Sample(
            t=time.time(),
            probe=self.name,
            ok=status == 0,
            latency_ms=round(latency_ms, 3),
            status=status,
            error=error[:200] if error else None,
        )
