"""The REST API's OpenAPI schema: the committed schema/openapi.yaml is what the server
generates and serves (regenerate with `make openapi`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command
from django.test import Client

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "openapi.yaml"
REGENERATE = "schema/openapi.yaml is out of date; regenerate it with `make openapi` and commit it"


def generated(tmp_path: Path) -> str:
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return out.read_text()


def test_the_committed_schema_is_what_the_server_generates(tmp_path: Path) -> None:
    assert generated(tmp_path) == COMMITTED.read_text(), REGENERATE


def test_the_schema_is_served_to_anyone(db) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    assert served == yaml.safe_load(COMMITTED.read_text())
    assert served["openapi"].startswith("3.")


def test_every_operation_documents_the_one_error_shape() -> None:
    schema = yaml.safe_load(COMMITTED.read_text())
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code in ("401", "403", "404"):
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            assert operation["security"] == [{"bearerAuth": []}, {"cookieAuth": []}], path
