from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.injector.netlab import NetPair


@pytest.fixture
def netpair(needs_root: None) -> Iterator[NetPair]:
    pair = NetPair.create()
    try:
        yield pair
    finally:
        pair.destroy()
