"""`drillhall doctor`: what this machine can do for Drillhall, and how to fix what it cannot.

Every check does the real thing on a small scale (creates and deletes a throwaway network
namespace, lists nftables tables inside one, opens /dev/fuse, compiles an eBPF program,
PINGs Redis as the server's user, asks Redis for its ACL users as admin, asks the configured
Alertmanager for its version) rather than guessing from files, and every failure carries a
fix. No password is ever shown.
Framework-free: the CLI renders the result and sets its exit code.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from ebpf.capabilities import Capability, check_ebpf
from ebpf.collector import Source
from ebpf.registry import ENV, ENV_FIX, Choice, SettingError, choices, ebpf_setting
from injector.credentials import (
    ADMIN_USER,
    SERVER_USER,
    admin_redis_url,
    credentials_dir,
    password_file,
    redacted,
    server_redis_url,
    without_credentials,
)

__all__ = ["Capability", "all_ok", "check_all", "render"]

CMD_TIMEOUT_S = 5.0
REDIS_TIMEOUT_S = 1.0
ROOT_FIX = "run as root"


class _CheckFailed(Exception):
    """A step failed; the message is the detail shown to the user."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            argv, capture_output=True, text=True, timeout=CMD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _CheckFailed(f"{' '.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        raise _CheckFailed(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


@contextmanager
def _throwaway_netns() -> Iterator[str]:
    name = f"drillhall-doctor-{uuid.uuid4().hex[:8]}"
    _run(["ip", "netns", "add", name])
    try:
        yield name
    finally:
        subprocess.run(  # noqa: S603 (fixed argv, no shell)
            ["ip", "netns", "del", name], capture_output=True, timeout=CMD_TIMEOUT_S, check=False
        )


def check_root() -> Capability:
    uid = os.geteuid()
    if uid == 0:
        return Capability("root", True, "running as root")
    return Capability(
        "root",
        False,
        f"running as uid {uid}: namespaces, nftables, FUSE faults and eBPF need root "
        "(proxy faults, process faults and the /proc fallback still work)",
        ROOT_FIX,
    )


def check_netns() -> Capability:
    if os.geteuid() != 0:
        return Capability("netns", False, "creating network namespaces needs root", ROOT_FIX)
    if shutil.which("ip") is None:
        return Capability("netns", False, "no `ip` binary", "apt-get install iproute2")
    try:
        with _throwaway_netns() as name:
            pass
    except _CheckFailed as exc:
        return Capability("netns", False, str(exc), "a kernel with CONFIG_NET_NS and root")
    return Capability("netns", True, f"created and deleted a throwaway namespace ({name})")


def check_nftables() -> Capability:
    if shutil.which("nft") is None:
        return Capability("nftables", False, "no `nft` binary", "apt-get install nftables")
    if os.geteuid() != 0:
        return Capability("nftables", False, "nftables in a namespace needs root", ROOT_FIX)
    try:
        with _throwaway_netns() as name:
            _run(["ip", "netns", "exec", name, "nft", "list", "tables"])
    except _CheckFailed as exc:
        return Capability(
            "nftables", False, str(exc), "a kernel with nf_tables (CONFIG_NF_TABLES) and root"
        )
    return Capability("nftables", True, "`nft list tables` works inside a throwaway namespace")


def check_fuse() -> Capability:
    dev = "/dev/fuse"
    try:
        mode = os.stat(dev).st_mode
    except OSError:
        return Capability("fuse", False, f"{dev} missing", "modprobe fuse (or a kernel with FUSE)")
    if not stat.S_ISCHR(mode):
        return Capability("fuse", False, f"{dev} is not a character device", "modprobe fuse")
    try:
        os.close(os.open(dev, os.O_RDWR))
    except OSError as exc:
        return Capability("fuse", False, f"cannot open {dev}: {exc.strerror}", ROOT_FIX)
    if shutil.which("fusermount3") is None:
        return Capability("fuse", False, "no fusermount3", "apt-get install fuse3")
    return Capability("fuse", True, f"{dev} opens and fusermount3 is installed")


def _redis_client(url: str):  # type: ignore[no-untyped-def]
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),  # redis-py retries 10 times by default
    )


def check_redis(redis_url: str) -> Capability:
    """PING as the server's processes do: the user ``drillhall`` unless the URL names one."""
    import redis

    shown = redacted(redis_url)
    fix = f"start Redis at {shown} (make setup starts one on 127.0.0.1:6379)"
    try:
        url = server_redis_url(redis_url)
        user = urlsplit(url).username or "default"
        client = _redis_client(url)
        try:
            client.ping()
            version = client.info("server").get("redis_version", "?")
        finally:
            client.close()
    except redis.AuthenticationError as exc:
        directory = credentials_dir()
        return Capability(
            "redis",
            False,
            f"PING {shown} as the Redis user {user}: refused ({exc})",
            f"run make setup (it gives Redis its users and writes their passwords to "
            f"{directory}), or point DRILLHALL_CREDENTIALS_DIR at the set-up's directory",
        )
    except Exception as exc:  # bad URL, refused, timeout: all "not usable"
        return Capability("redis", False, f"PING {shown}: {type(exc).__name__}: {exc}", fix)
    return Capability(
        "redis", True, f"PING {shown} as the Redis user {user}: PONG (Redis {version})"
    )


def check_redis_users(redis_url: str) -> Capability:
    """The broker's ACL users (injector.redis_acl), asked as admin: default off, admin,
    drillhall, and one user per host enrolled in the credentials directory."""
    from injector.redis_acl import check_users

    directory = credentials_dir()
    fix = "run make setup (it gives Redis its users); enrol agents with `drillhall enrol HOST`"
    if not password_file(directory, ADMIN_USER).is_file():
        return Capability(
            "redis-acl",
            False,
            f"cannot ask Redis for its users: no password of the Redis user {ADMIN_USER} in "
            f"{directory}",
            fix,
        )
    plain = without_credentials(redis_url)
    try:
        client = _redis_client(admin_redis_url(plain, directory))
        try:
            report = check_users(client, directory)
        finally:
            client.close()
    except Exception as exc:
        detail = f"asking {redacted(plain)} as {ADMIN_USER}: {type(exc).__name__}: {exc}"
        return Capability("redis-acl", False, detail, fix)
    if not report.ok:
        return Capability("redis-acl", False, report.detail, fix)
    return Capability("redis-acl", True, f"{report.detail}; the server connects as {SERVER_USER}")


def _collector_summary(picks: list[Choice], common_why: str) -> str:
    """`eBPF: a, b; /proc fallback: c (why); without eBPF or /proc: d (why)`; a reason shared
    by all is said once, before this, rather than per collector."""

    def named(source: Source | None) -> str:
        return ", ".join(
            c.name if c.why in ("", common_why) else f"{c.name} ({c.why})"
            for c in picks
            if c.source == source
        )

    parts = [
        f"{label}: {names}"
        for label, names in (
            ("collectors on eBPF", named(Source.EBPF)),
            ("on the /proc fallback", named(Source.PROC)),
            ("unavailable", named(None)),
        )
        if names
    ]
    return "; ".join(parts)


def check_ebpf_collectors() -> Capability:
    """eBPF itself (check_ebpf), then which collectors use it and which fall back to /proc."""
    try:
        setting = ebpf_setting()
    except SettingError as exc:
        return Capability("ebpf", False, str(exc), f"set {ENV} to auto, on or off")
    if setting is False:
        cap = Capability("ebpf", False, f"eBPF turned off by {ENV}=off", ENV_FIX)
    else:
        cap = check_ebpf()
    why = "" if cap.ok else cap.detail
    detail = f"{cap.detail}; {_collector_summary(choices(cap.ok, why), why)}"
    return Capability("ebpf", cap.ok, detail, cap.fix)


def check_alertmanager(url: str) -> Capability:
    """The Alertmanager drills silence alerts in (DRILLHALL_ALERTMANAGER_URL): that it answers
    its API. Optional: without one, nothing is silenced and that is fine."""
    from drills.engine.alertmanager import AlertmanagerClient, AlertmanagerError, base_url

    name, fix = "alertmanager", "start it, or correct DRILLHALL_ALERTMANAGER_URL"
    try:
        checked = base_url(url)
    except ValueError as exc:
        return Capability(name, False, f"DRILLHALL_ALERTMANAGER_URL: {exc}", fix)
    if not checked:
        return Capability(
            name, True, "none configured: drills silence no alerts (DRILLHALL_ALERTMANAGER_URL)"
        )
    client = AlertmanagerClient(checked)
    try:
        version = client.version()
    except AlertmanagerError as exc:
        return Capability(name, False, str(exc), fix)
    return Capability(
        name, True, f"Alertmanager {version} at {client.url}: drills silence their hosts' alerts"
    )


def _guarded(name: str, check: Callable[[], Capability]) -> Capability:
    # One broken check must not hide the others.
    try:
        return check()
    except Exception as exc:
        detail = f"check crashed: {type(exc).__name__}: {exc}"
        return Capability(name, False, detail, "report a bug")


def check_all(redis_url: str, alertmanager_url: str = "") -> list[Capability]:
    """Every capability Drillhall uses, in the order an operator would fix them."""
    checks: list[tuple[str, Callable[[], Capability]]] = [
        ("root", check_root),
        ("netns", check_netns),
        ("nftables", check_nftables),
        ("fuse", check_fuse),
        ("ebpf", check_ebpf_collectors),
        ("redis", lambda: check_redis(redis_url)),
        ("redis-acl", lambda: check_redis_users(redis_url)),
        ("alertmanager", lambda: check_alertmanager(alertmanager_url)),
    ]
    return [_guarded(name, check) for name, check in checks]


def all_ok(caps: list[Capability]) -> bool:
    return all(c.ok for c in caps)


def render(caps: list[Capability]) -> str:
    """One aligned line per capability: `ok  name  detail` or `MISSING name  detail -> fix: ...`."""
    status_w = len("MISSING")
    name_w = max((len(c.name) for c in caps), default=0)
    lines = []
    for c in caps:
        status = "ok" if c.ok else "MISSING"
        line = f"{status:<{status_w}}  {c.name:<{name_w}}  {c.detail}"
        if not c.ok and c.fix:
            line += f" -> fix: {c.fix}"
        lines.append(line)
    return "\n".join(lines)
