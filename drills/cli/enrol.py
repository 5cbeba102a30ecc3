"""`drillhall enrol HOST [--protected]`: give a new host's agent its signing key, and say what
the agent needs.

The orchestrator signs every request for a host with that host's key
(``injector.signing``); the agent refuses anything signed with another. Enrolling makes the
key in the server's credentials directory (``DRILLHALL_CREDENTIALS_DIR``) if there is none;
running it again changes nothing and says so. The key is never printed, only where it is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from injector.protocol import ProtocolError, agent_queue, check_host_name
from injector.signing import agent_key_path, ensure_agent_key

Say = Callable[[str], None]
# Where the key goes on the agent's own machine (a suggestion, printed as such).
AGENT_KEY_FILE = "/etc/drillhall/hmac.key"


class EnrolError(Exception):
    """Enrolment cannot be done; the message says why and what to do."""


def enrol(host: str, protected: bool, credentials_dir: Path, say: Say) -> Path:
    try:
        host = check_host_name(host)
    except ProtocolError as exc:
        raise EnrolError(str(exc)) from None
    existed = agent_key_path(credentials_dir, host).exists()
    try:
        key = ensure_agent_key(credentials_dir, host)
    except (OSError, ValueError) as exc:
        where = f"the key of {host} could not be made in {credentials_dir}"
        raise EnrolError(f"{where}: {exc}") from None
    say(
        f"{host} is enrolled: the orchestrator signs every request for its queue "
        f"{agent_queue(host)} with its key, and its agent takes no other."
    )
    say(f"The key is in {key} ({'already there' if existed else 'made just now'}; not shown).")
    say(
        f"On {host}, copy that file to {AGENT_KEY_FILE} (mode 0600, owned by the user the agent "
        "runs as), and start the agent with this environment:"
    )
    say(f"  DRILLHALL_AGENT_HOST={host}")
    say(f"  DRILLHALL_AGENT_KEY_FILE={AGENT_KEY_FILE}")
    say("  REDIS_URL=redis://REDIS-ADDRESS:6379/0")
    say(f"  drillhall agent --host {host}")
    if protected:
        say(
            f"{host} is protected: also set DRILLHALL_AGENT_PROTECTED=true in its agent's "
            "environment, so that the agent itself refuses faults of runs without a recorded "
            "approval. Mark the host protected in the inventory too (admin pages, Hosts)."
        )
    return key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", help="the host's name, as its agent's --host gives it")
    parser.add_argument(
        "--protected",
        action="store_true",
        help="faults on this host need an approval: say how its agent is told so",
    )


def cmd_enrol(args: argparse.Namespace, say: Say) -> int:
    from django.conf import settings

    try:
        enrol(args.host, args.protected, Path(settings.DRILLHALL_CREDENTIALS_DIR), say)
    except EnrolError as exc:
        print(f"drillhall enrol: {exc}", file=sys.stderr)
        return 2
    return 0
