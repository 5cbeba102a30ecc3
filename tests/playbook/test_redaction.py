"""Redaction masks every credential shape in tests/fixtures/redaction/credentials.yaml, leaves
look-alikes and every shipped playbook untouched, and is idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drills.playbook.redaction import MASK, find_credentials, redact, redact_data
from tests.example_files import EXAMPLE_PLAYBOOKS

ROOT = Path(__file__).resolve().parents[2]
CASES = yaml.safe_load((ROOT / "tests" / "fixtures" / "redaction" / "credentials.yaml").read_text())
MASKED: list[dict[str, str]] = CASES["masked"]
UNTOUCHED: list[str] = CASES["untouched"]
PLAYBOOKS = sorted([*EXAMPLE_PLAYBOOKS, *ROOT.glob("tests/fixtures/playbooks/valid/*.yaml")])


def test_the_fixture_covers_every_shape() -> None:
    kinds = {c.kind for case in MASKED for c in find_credentials(case["text"])}
    assert len(MASKED) >= 25
    assert kinds == {
        "the password of a URL",
        "a key=value password or token",
        "a key: value password or token",
        "an Authorization header",
        "a --password option",
    }


@pytest.mark.parametrize("case", MASKED, ids=[c["text"][:40] for c in MASKED])
def test_a_credential_is_masked_and_the_rest_kept(case: dict[str, str]) -> None:
    shown = redact(case["text"])
    assert shown == case["shown"]
    assert redact(shown) == shown  # idempotent
    assert find_credentials(shown) == []


@pytest.mark.parametrize("text", UNTOUCHED, ids=[t[:40] for t in UNTOUCHED])
def test_a_look_alike_without_a_credential_is_left_as_it_is(text: str) -> None:
    assert redact(text) == text
    assert find_credentials(text) == []


@pytest.mark.parametrize("path", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_a_playbook_without_secrets_is_shown_character_for_character(path: Path) -> None:
    # The editor shows redact(text): a playbook without secrets must stay the same YAML.
    text = path.read_text()
    assert redact(text) == text


def test_the_mask_keeps_a_playbook_yaml() -> None:
    # '*' or '[' would make an alias or a list of the masked value; the mask is a plain scalar.
    text = "probes:\n  - password: hunter2\n    dsn: postgresql://a:hunter2@db1/x\n"
    assert yaml.safe_load(redact(text)) == {
        "probes": [{"password": MASK, "dsn": f"postgresql://a:{MASK}@db1/x"}]
    }


def test_find_credentials_points_at_the_value() -> None:
    text = "host=db1 password=hunter2 and postgresql://u:pw@h/x"
    found = find_credentials(text)
    assert [text[c.start : c.end] for c in found] == ["hunter2", "pw"]


def test_structures_are_redacted_by_value_and_by_key() -> None:
    data: dict[str, Any] = {
        "probes": [
            {"params": {"dsn": "postgresql://shop:hunter2@db1/shop", "secret": "shop-pg"}},
            {"params": {"password": "hunter2", "api_key": "abc", "token": "", "port": 5432}},
        ],
        "message": "FATAL: password=hunter2",
        "hosts": ("db1",),
    }
    shown = redact_data(data)
    assert "hunter2" not in repr(shown) and "abc" not in repr(shown)
    first, second = (p["params"] for p in shown["probes"])
    assert first == {"dsn": f"postgresql://shop:{MASK}@db1/shop", "secret": "shop-pg"}
    assert second == {"password": MASK, "api_key": MASK, "token": "", "port": 5432}
    assert shown["hosts"] == ("db1",)
    assert redact_data(shown) == shown
    assert data["message"] == "FATAL: password=hunter2"  # a copy: the input is not changed
