"""The "held vs used" chart of My compute: an SVG drawn on the server, no script, no CDN.

Cores held (workers × cores) and cores used (busy) minute by minute over the last day, as step
lines, with each scaling decision a marked vertical line whose tooltip is the controller's reason.
The time axis starts a little before the day's first point (``window_start``), so a cluster that
has run for ten minutes is not a sliver at the right edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tornado.template import Template

from usage.db import MINUTE_S, Decision, Point

WIDTH, HEIGHT = 900, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 24  # margins for the axes' labels
GAP_S = 3 * MINUTE_S  # no point for longer: the line breaks (nobody saw what was held)
MIN_SPAN_S = 30 * MINUTE_S  # the shortest time axis
X_TICKS = 6

SVG = Template(
    """<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}"
 viewBox="0 0 {{ width }} {{ height }}" role="img" aria-label="cores held and used, last day">
<rect x="{{ left }}" y="{{ top }}" width="{{ plot_w }}" height="{{ plot_h }}" fill="#fafafa"
 stroke="#ccc"/>
{% for y, label in y_ticks %}<text x="{{ left - 4 }}" y="{{ y + 4 }}" font-size="11"
 text-anchor="end">{{ label }}</text><line x1="{{ left }}" x2="{{ left + plot_w }}"
 y1="{{ y }}" y2="{{ y }}" stroke="#eee"/>
{% end %}{% for x, label, anchor in x_ticks %}<text x="{{ x }}" y="{{ height - 6 }}"
 font-size="11" text-anchor="{{ anchor }}">{{ label }}</text>
{% end %}<path class="held" d="{{ held }}" fill="none" stroke="#d62728" stroke-width="2.5"/>
<path class="used" d="{{ used }}" fill="none" stroke="#2ca02c" stroke-width="2"/>
{% for x, up, title in marks %}<g class="decision"><line x1="{{ x }}" x2="{{ x }}"
 y1="{{ top }}" y2="{{ top + plot_h }}" stroke="{{ '#1f77b4' if up else '#9467bd' }}"
 stroke-dasharray="3,2"/><circle cx="{{ x }}" cy="{{ top + 5 }}" r="4"
 fill="{{ '#1f77b4' if up else '#9467bd' }}"><title>{{ title }}</title></circle></g>
{% end %}</svg>"""
)


@dataclass(frozen=True, slots=True)
class Frame:
    """Where the chart's time and cores map to in the picture."""

    since_s: float
    until_s: float
    top_cores: float

    def x(self, time_s: float) -> float:
        share = (time_s - self.since_s) / max(1.0, self.until_s - self.since_s)
        return round(LEFT + min(1.0, max(0.0, share)) * (WIDTH - LEFT - RIGHT), 1)

    def y(self, cores: float) -> float:
        plot_h = HEIGHT - TOP - BOTTOM
        return round(TOP + plot_h - cores / self.top_cores * plot_h, 1)


def step_path(frame: Frame, points: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path of steps through ``(time, value)``; broken at a gap or a None value."""
    parts: list[str] = []
    last: tuple[float, float] | None = None  # the previous point drawn, (time, value)
    for time_s, value in points:
        if value is None:
            last = None
            continue
        if last is None or time_s - last[0] > GAP_S:
            if last is not None:  # the last value lasts its own minute, then the line breaks
                parts.append(f"H{frame.x(last[0] + MINUTE_S)}")
            parts.append(f"M{frame.x(time_s)},{frame.y(value)}")
        else:
            parts.append(f"H{frame.x(time_s)}V{frame.y(value)}")
        last = (time_s, value)
    if last is not None:
        parts.append(f"H{frame.x(min(frame.until_s, last[0] + MINUTE_S))}")
    return "".join(parts)


def decision_title(decision: Decision) -> str:
    """A marker's tooltip: when (UTC), which cluster, from how many to how many, and why."""
    when = datetime.fromtimestamp(decision.time_s, UTC).strftime("%H:%M:%S")
    return (
        f"{when} UTC {decision.key.cluster}: {decision.from_workers} -> {decision.to_workers}"
        f" workers ({decision.cause}) {decision.reason}"
    )


def window_start(
    points: Sequence[Point], decisions: Sequence[Decision], now_s: float, span_s: float
) -> float:
    """Where the time axis starts: ``span_s`` before now at most, else a tenth of the shown
    time before the first point or decision in that span (the axis at least ``MIN_SPAN_S``)."""
    earliest = now_s - span_s
    times = [t for t in [*(p.time_s for p in points), *(d.time_s for d in decisions)]
             if t >= earliest]  # fmt: skip
    if not times:
        return earliest
    shown = max(MIN_SPAN_S, (now_s - min(times)) * 1.1)
    return max(earliest, now_s - shown)


def clock(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).strftime("%H:%M")


def render_chart(
    points: Sequence[Point], decisions: Sequence[Decision], since_s: float, until_s: float
) -> str:
    """The chart of ``points`` and ``decisions`` between ``since_s`` and ``until_s``, as SVG."""
    top = max([1.0, *(p.held for p in points), *(p.used or 0.0 for p in points)])
    frame = Frame(since_s, until_s, top * 1.15)  # headroom: a line at the top stays visible
    plot_h = HEIGHT - TOP - BOTTOM
    step = max(1, int(top) // 4)
    y_ticks = [(frame.y(v), str(v)) for v in range(0, int(top) + 1, step)]
    span = until_s - since_s
    x_ticks = [
        (frame.x(since_s + span * i / X_TICKS), clock(since_s + span * i / X_TICKS),
         "end" if i == X_TICKS else "middle")  # the last label ends at the edge, not past it
        for i in range(X_TICKS + 1)
    ]  # fmt: skip
    return SVG.generate(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        plot_w=WIDTH - LEFT - RIGHT,
        plot_h=plot_h,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        held=step_path(frame, [(p.time_s, p.held) for p in points]),
        used=step_path(frame, [(p.time_s, p.used) for p in points]),
        marks=[
            (frame.x(d.time_s), d.to_workers > d.from_workers, decision_title(d))
            for d in decisions
            if since_s <= d.time_s <= until_s
        ],
    ).decode()
