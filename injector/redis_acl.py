"""The Redis users of a Drillhall broker, and what each may do (Redis ACL, Redis 7).

- ``default``: off. Nobody reaches the broker without a user and its password.
- ``admin``: everything. Set-up (users, the ACL file) and the lab (CONFIG SET bind, to listen
  on the lab's bridge while it is up), nothing that runs for long.
- ``drillhall``: the web server, orchestrator workers and the command line: every key and
  channel (Celery, channels-redis, the cache, the run reaper, evidence, the halt flag), every
  command but the ``@dangerous`` ones (CONFIG, ACL, MODULE, DEBUG, SAVE, REPLICAOF,
  SHUTDOWN, MIGRATE, FLUSHALL, KEYS, CLIENT KILL and LIST, ...), except INFO (``drillhall
  doctor``) and FLUSHDB (a test's own database).
- ``agent-<host>``, one per host: the commands its Celery worker, halt check and evidence
  sessions use, on its own keys only:

  * its queue ``agent.<host>``, taking messages and putting back its own unacknowledged ones;
  * its unacknowledged-message bookkeeping, ``drillhall:agent:<host>:*`` (kombu's
    ``unacked`` keys, moved there by the agent's transport options: kombu's shared ones would
    let one consumer re-queue a forged message through another);
  * the replies it writes, Celery's result keys and channels of task ids that name its host
    (``agent:<host>:<uuid>``, the only ids the orchestrator gives its tasks);
  * the evidence lists of its host, ``drillhall:evidence:<run>:samples:<host>``, and reading
    the runs' evidence leases;
  * reading the halt key(s), never writing them;
  * pushing, and only pushing (LPUSH), to the ``registrations`` queue, never
    ``orchestrator``.

  An agent cannot read or write another agent's queue, the orchestrator's queue, kombu's
  bindings, another host's replies or evidence, or the halt flag, and cannot run any command
  outside its list (Redis answers NOPERM). What it can still do within that: answer its own
  tasks wrongly, push forged registrations (the server checks them), and read any run's
  evidence lease (a key whose value says nothing).

Framework-free: the set-up, the lab, ``drillhall enrol``, ``drillhall doctor`` and the tests
use it with a redis-py client.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from injector.credentials import (
    ADMIN_USER,
    AGENT_USER_PREFIX,
    SERVER_USER,
    agent_user,
    ensure_password,
    password_file,
    read_password,
)
from injector.protocol import (
    EVIDENCE_KEY_PREFIX,
    HALT_KEY,
    REGISTER_QUEUE,
    agent_keys_prefix,
    agent_queue,
    agent_task_id_prefix,
    check_host_name,
)

DEFAULT_USER = "default"
# Celery's Redis result backend keeps a task's reply under this prefix and the task id, and
# publishes it on a channel of the same name (celery.backends.base.KeyValueStoreBackend).
RESULT_KEY_PREFIX = "celery-task-meta-"
# How long an agent's worker blocks on its queue in one BRPOP (agent_transport_options).
AGENT_BRPOP_SECONDS = 0.1

# What an agent's worker, janitor and evidence sessions send, and nothing else. Connection:
# AUTH, HELLO, SELECT, PING, CLIENT SETNAME. Queue: BRPOP, LPUSH/RPUSH (re-queueing its own
# unacknowledged messages). kombu's bookkeeping: ZADD, ZRANGE, ZREM, HSET, HGET, HDEL, and a
# redis-py Lock (SET NX, a Lua release: EVALSHA, SCRIPT LOAD, GET, DEL) in WATCH/MULTI/EXEC.
# Replies: GET, SET (EX), PUBLISH; SUBSCRIBE for its own watchdog's ping. Evidence: EXISTS,
# RPUSH, LTRIM, EXPIRE. Halt: GET.
AGENT_COMMANDS = (
    "auth", "hello", "select", "ping", "echo", "quit", "reset",
    "client|setname", "client|getname", "client|id", "client|info",
    "brpop", "rpop", "lpush", "rpush", "llen", "ltrim",
    "zadd", "zrange", "zrem", "hset", "hget", "hdel",
    "get", "set", "setex", "del", "exists", "expire", "pexpire",
    "watch", "unwatch", "multi", "exec", "discard",
    "eval", "evalsha", "script|load", "script|exists",
    "publish", "subscribe", "unsubscribe",
)  # fmt: skip


@dataclass(frozen=True)
class RedisUser:
    """One ACL user: its name and its rules (what ``ACL SETUSER name`` takes after ``reset``)."""

    name: str
    rules: tuple[str, ...]

    def setuser_args(self, password: str) -> list[str]:
        # reset first: the rules are the whole truth, whatever an older set-up granted.
        return ["ACL", "SETUSER", self.name, "reset", "on", f">{password}", *self.rules]


def admin_user() -> RedisUser:
    return RedisUser(ADMIN_USER, ("~*", "&*", "+@all"))


def server_user() -> RedisUser:
    return RedisUser(SERVER_USER, ("~*", "&*", "+@all", "-@dangerous", "+info", "+flushdb"))


def agent_key_patterns(host: str) -> tuple[str, ...]:
    results = f"{RESULT_KEY_PREFIX}{agent_task_id_prefix(host)}*"
    return (
        f"~{agent_queue(host)}",
        f"~{agent_keys_prefix(host)}*",
        f"~{results}",
        f"~{EVIDENCE_KEY_PREFIX}*:samples:{check_host_name(host)}",
        f"%R~{EVIDENCE_KEY_PREFIX}*:lease",
        f"%R~{HALT_KEY}",
        f"%R~{HALT_KEY}:*",
    )


def registration_selector() -> str:
    """A second set of rights (a Redis 7 selector): LPUSH to the registrations queue, and no
    other command there (neither reading others' registrations nor deleting them)."""
    return f"(~{REGISTER_QUEUE} +lpush)"


def agent_channel_patterns(host: str) -> tuple[str, ...]:
    return (f"&{RESULT_KEY_PREFIX}{agent_task_id_prefix(host)}*",)


def host_user(host: str) -> RedisUser:
    """The user of ``host``'s agent."""
    commands = tuple(f"+{c}" for c in AGENT_COMMANDS)
    return RedisUser(
        agent_user(host),
        (
            "-@all",
            *commands,
            *agent_key_patterns(host),
            *agent_channel_patterns(host),
            registration_selector(),
        ),
    )


def agent_transport_options(host: str) -> dict[str, Any]:
    """kombu Redis transport options for ``host``'s agent, so that its worker touches only the
    keys its user may: unacknowledged messages under its own prefix, and one priority step (no
    ``agent.<host>\\x06\\x163`` lists to read).

    The worker waits for messages with a BRPOP of ``AGENT_BRPOP_SECONDS`` rather than kombu's
    second: its warm shutdown ends its loop, and closing the connection waits for that BRPOP's
    reply, so every stop of an idle agent took up to a second (the end of each `drillhall run`
    that started its agents, docs/performance.md). Ten idle BRPOPs a second per agent cost
    Redis next to nothing."""
    prefix = agent_keys_prefix(host)
    return {
        "unacked_key": f"{prefix}unacked",
        "unacked_index_key": f"{prefix}unacked_index",
        "unacked_mutex_key": f"{prefix}unacked_mutex",
        "priority_steps": [0],
        "polling_interval": AGENT_BRPOP_SECONDS,  # kombu's name for the BRPOP's timeout
    }


def enrolled_hosts(directory: Path) -> list[str]:
    """Hosts that have an agent password under the credentials directory."""
    agents = directory / "agents"
    if not agents.is_dir():
        return []
    found = []
    for entry in sorted(agents.iterdir()):
        try:
            host = check_host_name(entry.name)
        except ValueError:
            continue
        if password_file(directory, agent_user(host)).is_file():
            found.append(host)
    return found


def password_of(directory: Path, user: str, create: bool = True) -> str:
    """``user``'s password from the credentials directory (made first when ``create``)."""
    path = password_file(directory, user)
    if create:
        ensure_password(path)
    password = read_password(path)
    if password is None:
        raise FileNotFoundError(f"{path}: no password for the Redis user {user}")
    return password


def set_user(client: Any, user: RedisUser, password: str) -> None:
    client.execute_command(*user.setuser_args(password))


def ensure_users(client: Any, directory: Path, hosts: list[str]) -> list[str]:
    """Create or re-set admin, drillhall and the agents of ``hosts`` (passwords made where
    missing), then switch ``default`` off. ``client`` may be anyone allowed to run ACL: the
    default user of a Redis without users yet (which can do nothing afterwards), or admin.
    Returns what it did, as sentences; ``save_acl`` (as admin) writes them to the ACL file."""
    done = []
    for user in (admin_user(), server_user(), *(host_user(h) for h in hosts)):
        set_user(client, user, password_of(directory, user.name))
    names = [ADMIN_USER, SERVER_USER, *(agent_user(h) for h in hosts)]
    done.append(f"users {', '.join(names)} set with their rules")
    # Last: the connection doing this may be the default user's.
    client.execute_command("ACL", "SETUSER", DEFAULT_USER, "reset", "off")
    done.append("the default user is off (no access without a user and password)")
    return done


def ensure_agent(client: Any, directory: Path, host: str) -> bool:
    """Create or re-set ``host``'s agent user; True when its password was made just now."""
    made = ensure_password(password_file(directory, agent_user(host)))
    set_user(client, host_user(host), password_of(directory, agent_user(host), create=False))
    save_acl(client)
    return made


def save_acl(client: Any) -> str:
    """Write the users to Redis's ACL file, if it has one; a sentence saying what happened."""
    aclfile = config_value(client, "aclfile")
    if not aclfile:
        return (
            "this Redis was started without an ACL file: the users last until it restarts, "
            "and the set-up sets them again"
        )
    client.execute_command("ACL", "SAVE")
    return f"saved in the ACL file {aclfile}"


def config_value(client: Any, name: str) -> str:
    """One setting of Redis (CONFIG GET), as text; "" when it has none of that name."""
    reply = client.execute_command("CONFIG", "GET", name)
    if isinstance(reply, dict):  # redis-py parses it into a mapping (bytes or str keys)
        pairs = {_text(k): v for k, v in reply.items()}
    else:
        pairs = {_text(k): v for k, v in zip(reply[::2], reply[1::2], strict=False)}
    return _text(pairs.get(name, ""))


@dataclass(frozen=True)
class AclReport:
    """What ``drillhall doctor`` says of the broker's users (never a password)."""

    ok: bool
    detail: str


def check_users(client: Any, directory: Path) -> AclReport:
    """Whether the broker's users are in place, asked as admin: default off, admin, drillhall
    and one user per enrolled host, each with the rules this module gives it."""
    enrolled = enrolled_hosts(directory)
    expected = [admin_user(), server_user(), *(host_user(h) for h in enrolled)]
    existing = {_text(name) for name in client.execute_command("ACL", "USERS")}
    missing = [u.name for u in expected if u.name not in existing]
    default = _flags(client, DEFAULT_USER)
    problems = []
    if "off" not in default:
        problems.append("the default user is on (anyone reaches the broker without a password)")
    if missing:
        problems.append(f"missing users: {', '.join(missing)}")
    stray = sorted(
        name for name in existing if name.startswith(AGENT_USER_PREFIX)
        and name.removeprefix(AGENT_USER_PREFIX) not in enrolled
    )  # fmt: skip
    if problems:
        return AclReport(False, "; ".join(problems))
    detail = (
        f"ACL users in place: default off, {ADMIN_USER}, {SERVER_USER} and "
        f"{len(enrolled)} agent user(s)"
        + (f" ({', '.join(agent_user(h) for h in enrolled)})" if enrolled else "")
    )
    if stray:
        detail += f"; users of hosts not enrolled here: {', '.join(stray)}"
    return AclReport(True, detail)


def _flags(client: Any, name: str) -> set[str]:
    reply = client.execute_command("ACL", "GETUSER", name)
    if reply is None:
        return set()
    if isinstance(reply, dict):
        flags = reply.get("flags") or reply.get(b"flags") or []
    else:
        pairs = dict(zip(reply[::2], reply[1::2], strict=False))
        flags = pairs.get(b"flags") or pairs.get("flags") or []
    return {_text(f) for f in flags}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
