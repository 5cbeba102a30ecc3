"""Inline SVG charts for the report: no script, no external file, readable in a PDF.

Fault windows are shaded; a probe's failed samples are marked under the line. Every value
that reaches the markup is a number formatted here or text escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from drills.report.model import ChartPoint, FaultWindow

PALETTE = ("#1f6feb", "#6f42c1", "#d97706", "#0f766e", "#be185d", "#4d7c0f", "#334155")


def _ticks(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= 8:
            return float(step)
    return 7200.0


def line_chart(
    series: Sequence[tuple[str, Sequence[ChartPoint]]],
    faults: Sequence[FaultWindow],
    start: float,
    end: float,
    *,
    unit: str,
    label: str,
    width: int = 960,
    height: int = 200,
    errors: bool = True,
    axes: bool = True,
) -> str:
    """One chart, several series over ``start``..``end`` seconds of the run."""
    left, right, top, bottom = (48, 8, 8, 22) if axes else (1, 1, 1, 1)
    span = max(end - start, 1e-9)
    values = [p.value for _, pts in series for p in pts if p.value is not None]
    high = max(values, default=0.0) or 1.0

    def x(t: float) -> float:
        return left + (min(max(t, start), end) - start) / span * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - v / high) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">',
        f'<rect x="{left}" y="{top}" width="{width - left - right}" '
        f'height="{height - top - bottom}" fill="#fafbfc" stroke="#dde"/>',
    ]
    for f in faults:
        a = f.start_offset
        b = f.end_offset if f.end_offset is not None else end
        if b < start or a > end:
            continue
        parts.append(
            f'<rect class="fault-window" x="{x(a):.1f}" y="{top}" '
            f'width="{max(x(b) - x(a), 1.0):.1f}" height="{height - top - bottom}" '
            f'fill="#c62828" fill-opacity="0.13"><title>{escape(f.kind)} on '
            f"{escape(f.host)}</title></rect>"
        )
    step = _ticks(span)
    tick = (start // step + 1) * step if start % step else start
    while axes and tick <= end:
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 6}" font-size="10" text-anchor="middle" '
            f'fill="#556">{tick:g} s</text>'
        )
        tick += step
    parts.append(
        ""
        if not axes
        else f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end" fill="#556">'
        f"{high:.4g}</text>"
        f'<text x="{left - 4}" y="{height - bottom}" font-size="10" text-anchor="end" '
        f'fill="#556">0</text>'
        f'<text x="4" y="{(height - bottom) / 2 + top:.0f}" font-size="10" fill="#556">'
        f"{escape(unit)}</text>"
    )
    for i, (name, points) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(
            f"{x(p.offset):.1f},{y(p.value):.1f}" for p in points if p.value is not None
        )
        if coords:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" '
                f'points="{coords}"><title>{escape(name)}</title></polyline>'
            )
        if errors:
            parts.extend(
                f'<circle class="probe-error" cx="{x(p.offset):.1f}" cy="{height - bottom - 4}" '
                f'r="2.2" fill="#c62828"/>'
                for p in points
                if not p.ok
            )
    parts.append("</svg>")
    return "".join(parts)


def legend(names: Sequence[str]) -> str:
    return " ".join(
        f'<span class="key"><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}">'
        f"</span>{escape(n)}</span>"
        for i, n in enumerate(names)
    )


def sparkline(
    points: Sequence[ChartPoint],
    faults: Sequence[FaultWindow],
    start: float,
    end: float,
    width: int = 220,
    height: int = 34,
) -> str:
    return line_chart(
        [("", points)],
        faults,
        start,
        end,
        unit="",
        label="kernel metric",
        width=width,
        height=height,
        errors=False,
        axes=False,
    )
