"""Inline SVG charts for the operator report page, drawn on the server (no JavaScript, no CDN: the
pages' Content-Security-Policy allows neither). Only numbers and escaped labels go into the markup."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR = "#3b6fd8"
MUTED = "#9aa3b2"


def bar_chart(values: list[int], labels: list[str], *, title: str, width: int = 640, height: int = 140) -> Markup:
    """Vertical bars, one per value, with the largest value and the first/last labels as the scale."""
    n = max(1, len(values))
    top = max(values, default=0) or 1
    plot_h = height - 28
    slot = width / n
    bars = []
    for i, v in enumerate(values):
        h = round(plot_h * v / top, 1)
        x = round(i * slot + slot * 0.1, 1)
        label = escape(labels[i]) if i < len(labels) else ""
        bars.append(
            f'<rect x="{x}" y="{round(plot_h - h + 14, 1)}" width="{round(slot * 0.8, 1)}" height="{h}" fill="{BAR}">'
            f"<title>{label}: {int(v)}</title></rect>"
        )
    first = escape(labels[0]) if labels else ""
    last = escape(labels[-1]) if labels else ""
    return Markup(
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<text x="0" y="10" font-size="10" fill="{MUTED}">max {int(max(values, default=0))}</text>'
        + "".join(bars)
        + f'<text x="0" y="{height - 2}" font-size="10" fill="{MUTED}">{first}</text>'
        f'<text x="{width}" y="{height - 2}" font-size="10" fill="{MUTED}" text-anchor="end">{last}</text></svg>'
    )


def sparkline(values: list[float], *, title: str, width: int = 160, height: int = 32) -> Markup:
    """A small line of the values (e.g. the success rate of the last reports), newest on the right."""
    if len(values) < 2:
        return Markup("")
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(
        f"{round(i * step, 1)},{round(height - 2 - (v - low) / span * (height - 4), 1)}" for i, v in enumerate(values)
    )
    return Markup(
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<polyline points="{points}" fill="none" stroke="{BAR}" stroke-width="1.5"/></svg>'
    )
