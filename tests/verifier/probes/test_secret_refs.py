"""A canary's secret is looked up on the orchestrator by the name the playbook gives: only in
the environment variables the operator allows, or in the secret store file; every refusal is a
sentence that names the reference and never holds the value."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from drills.engine.plan import PlannedProbe
from tests.verifier.probes.pgserver import postgres_server
from verifier.probes.pgcanary import PostgresCanary
from verifier.probes.probe import ProbeConfigError, build_probe
from verifier.probes.secret_refs import (
    SecretError,
    SecretRef,
    SecretSource,
    SecretStore,
)

VALUE = "postgresql://shop:hunter2@10.77.0.9/shop"
ENV = {"SHOP_PG_DSN": VALUE, "DJANGO_SECRET_KEY": "k" * 50, "OTHER_DSN": VALUE}
SHOP_ENV = SecretRef(SecretSource.ENV, "SHOP_PG_DSN")
SHOP_SECRET = SecretRef(SecretSource.STORE, "shop-pg")


def store_file(tmp_path: Path, text: str, name: str = "secrets.json", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def refusal(store: SecretStore, ref: SecretRef) -> str:
    with pytest.raises(SecretError) as caught:
        store.resolve(ref)
    message = str(caught.value)
    assert "hunter2" not in message and VALUE not in message
    return message


# -- environment variables --
def test_an_allowed_variable_is_read() -> None:
    store = SecretStore.from_environ({**ENV, "DRILLHALL_PROBE_SECRET_ENV": "SHOP_PG_DSN, X"})
    assert store.allowed_env == {"SHOP_PG_DSN", "X"}
    assert store.resolve(SHOP_ENV) == VALUE


def test_a_variable_the_operator_did_not_list_is_refused_naming_the_setting() -> None:
    store = SecretStore.from_environ({**ENV, "DRILLHALL_PROBE_SECRET_ENV": "SHOP_PG_DSN"})
    message = refusal(store, SecretRef(SecretSource.ENV, "OTHER_DSN"))
    assert message == (
        "the environment variable OTHER_DSN is not one the operator lets probes read (allowed: "
        "SHOP_PG_DSN); add it to DRILLHALL_PROBE_SECRET_ENV on the orchestrator, or use a "
        "secret from the secret store"
    )


def test_with_no_list_no_variable_is_readable() -> None:
    message = refusal(SecretStore.from_environ(ENV), SHOP_ENV)
    assert "(allowed: none)" in message


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_drillhalls_own_settings_are_never_readable_even_when_listed(name: str) -> None:
    listed = SecretStore(frozenset({name}), None, {name: VALUE})
    assert "which no probe may read" in refusal(listed, SecretRef(SecretSource.ENV, name))
    with pytest.raises(SecretError, match=f"DRILLHALL_PROBE_SECRET_ENV: {name} is a setting"):
        SecretStore.from_environ({"DRILLHALL_PROBE_SECRET_ENV": f"SHOP_PG_DSN,{name}"})


def test_an_allowed_variable_that_is_not_set_or_empty_is_a_sentence() -> None:
    store = SecretStore(frozenset({"SHOP_PG_DSN"}), None, {})
    assert refusal(store, SHOP_ENV) == (
        "the environment variable SHOP_PG_DSN is not set on the orchestrator; set it where the "
        "orchestrator worker starts"
    )
    empty = SecretStore(frozenset({"SHOP_PG_DSN"}), None, {"SHOP_PG_DSN": "  "})
    assert (
        refusal(empty, SHOP_ENV)
        == "the environment variable SHOP_PG_DSN is empty on the orchestrator"
    )


# -- the secret store --
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("secrets.json", json.dumps({"shop-pg": VALUE})),
        ("secrets.toml", f'"shop-pg" = "{VALUE}"\n'),
    ],
)
def test_a_secret_is_read_from_a_json_or_toml_store(tmp_path: Path, name: str, text: str) -> None:
    path = store_file(tmp_path, text, name)
    store = SecretStore.from_environ({"DRILLHALL_SECRETS_FILE": str(path)})
    assert store.resolve(SHOP_SECRET) == VALUE


def test_a_store_other_users_can_read_is_refused(tmp_path: Path) -> None:
    path = store_file(tmp_path, json.dumps({"shop-pg": VALUE}), mode=0o644)
    message = refusal(SecretStore(file=path), SHOP_SECRET)
    assert message == (
        f"the secret store {path} can be read or changed by other users (mode 0644); it holds "
        "passwords: chmod 600 it (or 640 for the server's group)"
    )
    group_readable = store_file(tmp_path, json.dumps({"shop-pg": VALUE}), "g.json", 0o640)
    assert SecretStore(file=group_readable).resolve(SHOP_SECRET) == VALUE


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("{}", "secrets.json", "has no secret named 'shop-pg'"),
        ('{"shop-pg": 5}', "secrets.json", "the secret 'shop-pg' in"),
        ('["shop-pg"]', "secrets.json", "must map names to values"),
        ('{"shop-pg": "postgresql://shop:hunter2@db1/x",', "secrets.json", "is not JSON"),
        (
            '"shop-pg" = postgresql://shop:hunter2@db1',
            "secrets.toml",
            "is not valid TOML (line 1, column 13)",
        ),
    ],
)
def test_a_broken_store_is_a_sentence_that_quotes_nothing_of_it(
    tmp_path: Path, text: str, name: str, expected: str
) -> None:
    path = store_file(tmp_path, text, name)
    assert expected in refusal(SecretStore(file=path), SHOP_SECRET)


def test_without_a_store_a_secret_cannot_be_looked_up(tmp_path: Path) -> None:
    assert "DRILLHALL_SECRETS_FILE is not set" in refusal(SecretStore(), SHOP_SECRET)
    missing = SecretStore(file=tmp_path / "nothing.json")
    assert "cannot be read (No such file or directory)" in refusal(missing, SHOP_SECRET)


# -- building the probe at preflight --
def planned(params: dict[str, str]) -> PlannedProbe:
    return PlannedProbe("orders", "canary", 0.5, None, {"store": "postgres", **params})


def test_the_probe_is_built_with_the_dsn_its_reference_names() -> None:
    store = SecretStore(frozenset({"SHOP_PG_DSN"}), None, {"SHOP_PG_DSN": VALUE})
    canary = build_probe(planned({"dsn_env": "SHOP_PG_DSN"}), store)
    assert isinstance(canary, PostgresCanary)


def test_a_reference_that_cannot_be_resolved_fails_preflight_with_a_sentence() -> None:
    store = SecretStore(frozenset(), None, {"SHOP_PG_DSN": VALUE})
    with pytest.raises(ProbeConfigError) as caught:
        build_probe(planned({"dsn_env": "SHOP_PG_DSN"}), store)
    assert str(caught.value).startswith(
        "probe orders: the environment variable SHOP_PG_DSN is not one the operator lets probes"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # libpq would say: missing "=" after "ter2" in connection info string
        ("host=db1 password=hun ter2", "is not a PostgreSQL connection string (not quoted"),
        ("host=/var/run password=hunter2", "the DSN in the environment variable SHOP_PG_DSN: host"),
        ("passfile=/root/.pgpass password=hunter2 host=db1", "names a file on the orchestrator"),
    ],
)
def test_a_named_dsn_that_breaks_the_rules_is_refused_without_quoting_it(
    value: str, expected: str
) -> None:
    store = SecretStore(frozenset({"SHOP_PG_DSN"}), None, {"SHOP_PG_DSN": value})
    with pytest.raises(ProbeConfigError) as caught:
        build_probe(planned({"dsn_env": "SHOP_PG_DSN"}), store)
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value) and "ter2" not in str(caught.value)


def test_by_default_the_orchestrators_environment_is_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_PG_DSN", VALUE)
    monkeypatch.delenv("DRILLHALL_PROBE_SECRET_ENV", raising=False)
    with pytest.raises(ProbeConfigError, match="not one the operator lets probes read"):
        build_probe(planned({"dsn_env": "SHOP_PG_DSN"}))
    monkeypatch.setenv("DRILLHALL_PROBE_SECRET_ENV", "SHOP_PG_DSN")
    assert isinstance(build_probe(planned({"dsn_env": "SHOP_PG_DSN"})), PostgresCanary)


def test_a_canary_writes_to_a_server_that_wants_the_password_its_reference_names(
    tmp_path: Path,
) -> None:
    # A real server with SCRAM over TCP: the password reaches it only through the secret store.
    with postgres_server(password="hunter2-S3cret") as server:
        path = store_file(tmp_path, json.dumps({"shop-pg": server.dsn_with_password}))
        store = SecretStore(file=path)
        canary = build_probe(planned({"secret": "shop-pg"}), store)
        samples = [canary.sample() for _ in range(3)]
        canary.close()
        # The control: the same server refuses the canary without the password.
        without = build_probe(planned({"dsn": server.dsn}))
        refused = without.sample()
        without.close()
        with psycopg.connect(server.dsn_with_password) as conn:
            rows = conn.execute("SELECT count(*) FROM drillhall_canary").fetchone()
    assert [s.ok for s in samples] == [True, True, True], samples
    assert rows == (3,)
    assert not refused.ok and "password" in (refused.error or "")
    assert "hunter2" not in (refused.error or "")
