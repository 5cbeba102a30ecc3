from __future__ import annotations

import pytest

from drills.playbook.durations import format_duration, parse_duration, parse_percent


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("150ms", 0.15), ("2s", 2.0), ("10m", 600.0), ("1h", 3600.0), ("1.5s", 1.5), (" 3s ", 3.0)],
)
def test_duration_parses_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "10 secs", "-1s", "s", "1.s", "1d", "", "1e3s"])
def test_bad_duration_explains_the_format(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 150ms, 2s or 10m"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.0, 0.1, 0.15, 0.25, 1.0, 1.5, 45.0, 90.0, 600.0, 7200.0])
def test_formatted_duration_parses_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_picks_the_natural_unit() -> None:
    assert [format_duration(s) for s in (0.25, 2.0, 600.0, 3600.0)] == ["250ms", "2s", "10m", "1h"]


def test_percent_parses_number() -> None:
    assert parse_percent("5%") == 5.0
    assert parse_percent("99.5%") == 99.5
    with pytest.raises(ValueError):
        parse_percent("5")
