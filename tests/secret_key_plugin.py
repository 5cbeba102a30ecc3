"""A pytest plugin (loaded by pyproject's addopts, `-p tests.secret_key_plugin`) that gives the
test session a random SECRET_KEY when none is configured.

The settings refuse to start without a key (drillhall/secret_key.py), and pytest-django imports
them before any conftest.py is read, so a conftest would come too late; a plugin named with -p is
imported before that. The key goes into os.environ, so the web servers, workers and command-line
runs that tests start inherit it. Tests never write var/secret-key, and a key the caller set
(SECRET_KEY or SECRET_KEY_FILE) is left alone.
"""

from __future__ import annotations

import os
import secrets

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    if not (os.environ.get("SECRET_KEY") or os.environ.get("SECRET_KEY_FILE")):
        os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
