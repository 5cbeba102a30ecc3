"""`drillhall halt` and `drillhall release`: the kill switch from a shell on the server.

Both act as a Drillhall account, named with ``--as USERNAME`` or DRILLHALL_USER, so the halt
records who pressed it and the release who lifted it. Any existing, active account may halt;
only an admin may release.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_REFUSED = 0, 2
USER_ENV = "DRILLHALL_USER"
SOURCE = "cli"  # where the audit log says it came from


def add_actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="as_user", metavar="USERNAME", default=os.environ.get(USER_ENV) or None,
        help=f"the Drillhall account this is done as (default: ${USER_ENV})",
    )  # fmt: skip


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _actor(name: str | None) -> Any | None:
    """The active account called ``name``, or None after saying why not."""
    from django.contrib.auth import get_user_model

    if not name:
        _err(f"say who you are: --as USERNAME or {USER_ENV}=USERNAME (a Drillhall account)")
        return None
    user = get_user_model().objects.filter(username=name, is_active=True).first()
    if user is None:
        _err(f"there is no active Drillhall account named {name}")
    return user


def halt(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    from drills.web.halt import halt_all

    user = _actor(args.as_user)
    if user is None:
        return EXIT_REFUSED
    result = halt_all(args.reason, user, SOURCE)
    if result.created:
        say(f"halted: {result.state.reason} (by {result.state.by})")
    else:
        say(f"already halted: {result.state.reason} (by {result.state.by or 'someone'}); "
            "telling every agent again")  # fmt: skip
    if result.redis_error:
        say(f"Redis did not answer ({result.redis_error}): no run may start, and agents hear "
            "of the halt as soon as Redis is back; until then their faults end with their "
            "leases")  # fmt: skip
        return EXIT_OK
    say(f"told {len(result.queues)} agent queue(s): {', '.join(result.queues) or 'none'}")
    if result.unreachable:
        say(f"could not send to: {', '.join(result.unreachable)} (their janitors read the halt "
            "from Redis)")  # fmt: skip
    say("every fault is being reverted; new faults are refused until an admin runs "
        "`drillhall release`")  # fmt: skip
    return EXIT_OK


def release(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    from drills.web.halt import ReleaseRefused
    from drills.web.halt import release as release_halt

    user = _actor(args.as_user)
    if user is None:
        return EXIT_REFUSED
    try:
        result = release_halt(user, SOURCE)
    except ReleaseRefused as exc:
        _err(str(exc))
        return EXIT_REFUSED
    if result.redis_error and not result.released:
        _err(f"could not release: Redis did not answer ({result.redis_error})")
        return EXIT_REFUSED
    if not result.released:
        told = f"; told {len(result.queues)} agent queue(s) to drop any halt they kept"
        say("nothing was halted" + (told if result.queues else ""))
        return EXIT_OK
    say(f"released by {user.get_username()}")
    if result.orphan is not None:
        say(f"also lifted a halt only Redis held: {result.orphan.reason}")
    if result.redis_error:
        say(f"Redis did not answer ({result.redis_error}): agents stay halted until it is "
            "back, and hear of the release then")  # fmt: skip
    else:
        say(f"told {len(result.queues)} agent queue(s): {', '.join(result.queues) or 'none'}")
    return EXIT_OK
