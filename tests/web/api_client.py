"""A test client that speaks to /api/v1/ with a persona's API token (no session, no CSRF
token), as a pipeline does."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from drills.web.audit import SYSTEM
from drills.web.token_issuing import create_token


class ApiClient:
    def __init__(self, user: User | None = None, secret: str | None = None) -> None:
        # CSRF checks on: a token request must pass without a CSRF token.
        self.client = Client(enforce_csrf_checks=True)
        if secret is None and user is not None:
            secret = create_token(user, "tests", SYSTEM).secret
        self.secret = secret
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            path, body if body is not None else {}, content_type="application/json",
            headers=self.headers,
        )  # fmt: skip
