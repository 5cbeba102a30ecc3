"""A PostgreSQL canary names its DSN (dsn_env, secret) or writes one without a password; the plan
carries the name, never a value; `drillhall validate` refuses a written password at its place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drills.engine.plan import resolve_plan
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from tests.playbook.inventory import fixture_inventory

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: secrets}}
targets:
  db: {{host: db1}}
probes:
  - name: orders
    canary:
      postgres: {postgres}
steps:
  - wait: 1s
"""


def playbook(postgres: str) -> str:
    return PLAYBOOK.format(postgres=postgres)


@pytest.mark.parametrize(
    ("postgres", "params"),
    [
        ("{dsn_env: SHOP_PG_DSN}", {"dsn_env": "SHOP_PG_DSN"}),
        ("{secret: shop-pg}", {"secret": "shop-pg"}),
        ('{dsn: "host=db1 dbname=shop user=shop"}', {"dsn": "host=db1 dbname=shop user=shop"}),
    ],
)
def test_the_plan_carries_the_reference_and_never_a_value(
    postgres: str, params: dict[str, str]
) -> None:
    plan = resolve_plan(parse_playbook(playbook(postgres)), fixture_inventory())
    (probe,) = plan.probes
    assert probe.params == {"store": "postgres", **params}
    assert plan.to_dict()["probes"][0]["params"] == {"store": "postgres", **params}


@pytest.mark.parametrize(
    ("postgres", "message"),
    [
        ('{dsn: "postgresql://shop:hunter2@db1/shop"}', "a password is written in the DSN"),
        ('{dsn: "host=db1 password=hunter2"}', "a password is written in the DSN"),
        ("{dsn_env: DATABASE_URL}", "DATABASE_URL is a setting of Drillhall, Django or Celery"),
        ("{dsn_env: DRILLHALL_SECRETS_FILE}", "which no probe may read"),
        ("{dsn_env: SECRET_KEY}", "which no probe may read"),
        ("{dsn_env: 'SHOP PG'}", "is not an environment variable name"),
        ("{secret: Shop/PG}", "is not a secret name"),
        ("{}", "needs exactly one of 'dsn' (without a password), 'dsn_env' or 'secret'"),
        ('{dsn: "host=db1", secret: shop-pg}', "; found dsn and secret"),
    ],
)
def test_a_written_password_or_a_name_no_probe_may_read_is_refused(
    postgres: str, message: str
) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(playbook(postgres))
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_validate_exits_2_at_the_password_and_never_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "inline.yaml"
    path.write_text(playbook('{dsn: "postgresql://shop:hunter2@db1/shop"}'))
    argv = [sys.executable, "-m", "drills.cli.main", "validate", str(path)]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    # Line 9, column 42: the first character of the password.
    assert f"{path}:9:42: probes[0].canary.postgres.dsn: a password is written" in result.stderr
    assert result.stdout == ""
    assert "dsn_env: SHOP_PG_DSN" in result.stderr and "secret: shop-pg" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
