"""Where credentials live, and how a Redis URL gets its user: files only its owner reads, a URL
filled only when it names nobody, and never a password in what people see."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from injector.credentials import (
    ADMIN_USER,
    ENV,
    SERVER_USER,
    CredentialError,
    admin_redis_url,
    agent_redis_url,
    agent_user,
    credentials_dir,
    ensure_password,
    password_file,
    read_password,
    redacted,
    server_redis_url,
    with_credentials,
    without_credentials,
)
from injector.protocol import ProtocolError

ROOT = Path(__file__).resolve().parents[2]

URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    creds = tmp_path / "credentials"
    for user in (ADMIN_USER, SERVER_USER, agent_user("db1")):
        ensure_password(password_file(creds, user))
    return creds


def test_each_user_has_its_file_and_agents_have_a_directory_each(tmp_path: Path) -> None:
    assert password_file(tmp_path, "admin") == tmp_path / "redis" / "admin.password"
    assert password_file(tmp_path, "drillhall") == tmp_path / "redis" / "drillhall.password"
    assert password_file(tmp_path, "agent-db1") == tmp_path / "agents" / "db1" / "redis.password"
    with pytest.raises(ProtocolError):
        password_file(tmp_path, "agent-../x")
    with pytest.raises(ValueError):
        password_file(tmp_path, "root")


def test_a_password_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = password_file(tmp_path / "c", agent_user("web"))
    assert ensure_password(path) is True
    first = path.read_text()
    assert ensure_password(path) is False and path.read_text() == first
    assert len(first.strip()) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    for parent in (path.parent, path.parent.parent, tmp_path / "c"):
        assert parent.stat().st_mode & 0o777 == 0o700, parent
    assert [p.name for p in path.parent.iterdir()] == ["redis.password"]  # no temporary left


def test_an_empty_password_file_is_an_error_and_a_missing_one_is_none(tmp_path: Path) -> None:
    assert read_password(tmp_path / "none") is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CredentialError, match="empty"):
        read_password(tmp_path / "empty")


def test_a_url_naming_nobody_gets_the_processs_user(directory: Path) -> None:
    server = server_redis_url(URL, directory)
    assert server.startswith("redis://drillhall:") and server.endswith("@127.0.0.1:6379/9")
    secret = read_password(password_file(directory, SERVER_USER))
    assert secret is not None and secret in server
    agent = agent_redis_url(URL, "db1", directory)
    assert agent.startswith("redis://agent-db1:")
    assert admin_redis_url(server, directory).startswith("redis://admin:")


def test_a_url_that_names_a_user_or_a_password_is_kept_as_it_is(directory: Path) -> None:
    named = ("redis://someone:pw@10.0.0.5:6379/0", "redis://:pw@10.0.0.5/0",
             "rediss://u:p@redis.example.com:6380/0")  # fmt: skip
    for url in named:
        assert with_credentials(url, SERVER_USER, directory) == url
    # A socket's credentials are query parameters, which are not written here.
    socket = "unix:///run/redis.sock?db=0"
    assert with_credentials(socket, SERVER_USER, directory) == socket


def test_a_user_without_a_password_file_leaves_the_url_alone(directory: Path) -> None:
    assert agent_redis_url(URL, "web", directory) == URL


def test_the_directory_comes_from_the_environment(tmp_path: Path) -> None:
    assert credentials_dir({ENV: str(tmp_path)}) == tmp_path
    # Not the checkout's, not the state directory a test points elsewhere: the machine's.
    default = credentials_dir({"DRILLHALL_STATE_DIR": str(tmp_path)})
    assert not default.is_relative_to(tmp_path) and not default.is_relative_to(ROOT)
    expected = "/var/lib/drillhall" if os.geteuid() == 0 else str(Path.home() / ".local/state")
    assert default.is_relative_to(expected) and default.name == "credentials"


def test_people_never_see_a_password(directory: Path) -> None:
    filled = server_redis_url(URL, directory)
    assert redacted(filled) == "redis://drillhall:***@127.0.0.1:6379/9"
    assert redacted(URL) == URL
    assert without_credentials(filled) == URL
