"""nftables tables that faults own: one `inet drillhall_r<run key>_s<step>` table per fault step.

Every network fault that filters or redirects packets applies, checks and deletes its table
the same way, inside the target's network namespace, through `nft` with an argv list.
"""

from __future__ import annotations

from injector.commands import CommandError, in_netns, netns_missing, run_command
from injector.faults.fault import FaultError

NFT_TIMEOUT = 5.0


def table_name(run: str, step: int) -> str:
    return f"drillhall_r{run}_s{step}"


def script(table: str, fault_id: str, body: str) -> str:
    """A replace-in-one-go ruleset: `add` + `delete` first, so a second apply replaces the
    table instead of stacking rules. body holds the chain blocks (each ending with `};`)."""
    return (
        f"add table inet {table}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        f'\tcomment "drillhall fault {fault_id}";\n'
        f"{body}"
        "}\n"
    )


def chain(hook: str, kind: str, priority: int, rules: list[str]) -> str:
    """One base chain block; each rule a line without indent or newline. The ";" after the
    block is required by nft when chains follow each other."""
    lines = "".join(f"\t\t{rule}\n" for rule in rules)
    return (
        f"\tchain {hook} {{\n"
        f"\t\ttype {kind} hook {hook} priority {priority}; policy accept;\n"
        f"{lines}\t}};\n"
    )


def apply(netns: str | None, table: str, ruleset: str) -> None:
    try:
        run_command(in_netns(netns, ["nft", "-f", "-"]), input=ruleset, timeout=NFT_TIMEOUT)
    except CommandError as exc:
        raise FaultError(f"nft could not apply {table}: {exc}") from exc


def exists(netns: str | None, table: str) -> bool:
    """Whether the table is there; a missing namespace has no tables."""
    if netns_missing(netns):
        return False
    try:
        run_command(in_netns(netns, ["nft", "list", "table", "inet", table]), timeout=NFT_TIMEOUT)
    except CommandError as exc:
        if exc.returncode == 1 and "No such file or directory" in exc.stderr:
            return False
        raise FaultError(f"cannot tell whether {table} exists: {exc}") from exc
    return True


def delete(netns: str | None, table: str) -> None:
    """Delete the table; already gone (or its namespace gone) is fine."""
    if netns_missing(netns):
        return
    try:
        run_command(in_netns(netns, ["nft", "delete", "table", "inet", table]), timeout=NFT_TIMEOUT)
    except CommandError as exc:
        if exists(netns, table):
            raise FaultError(f"nft could not delete {table}: {exc}") from exc
