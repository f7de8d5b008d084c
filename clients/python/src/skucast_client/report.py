"""One self-contained HTML report of a run: inline CSS and inline SVG drawn here, no scripts,
no fonts or images fetched: it opens offline in any browser.

Sections: run summary, demand-class mix, method mix, accuracy (run-level backtest metrics and
per class / per method), and for chosen SKUs (or the adjusted ones and the worst fits by backtest
MASE) a chart of history + forecast + interval bands, with the adjusted final forecast drawn
dashed beside the mean and a dot on each adjusted period. Works from plain dicts (no pandas needed).

Drivers (#19): each chart shades the periods of a promotion (a flag driver at 1 for that SKU; in a
scenario run, as its changes set them), of a public holiday (the tenant's calendar codes, when the
optional `holidays` package is installed beside the client: the API does not list holiday dates)
and of the tenant's and the scenario's events; below it, the drivers the forecast used, what each
adds over the horizon (units and share) and its warnings.

Hierarchies (#21): a hierarchy run adds level charts - the total (history, reconciled forecast,
bands) and its first level's nodes on one chart (each node's history and reconciled forecast in
its colour, the largest MAX_LEVEL_NODES by forecast volume). The API serves no node history: a
node's is the sum of its SKUs' (`GET /skus/{sku}/demand` of each, the SKUs found under the
deepest nodes), fetched for runs of at most NODE_HISTORY_SKUS SKUs; a bigger run's level charts
show the forecasts alone and say so.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skucast_client.client import Client

CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "new", "inactive")
CLASS_COLOURS = {
    "smooth": "#2b8a3e",
    "erratic": "#e67700",
    "intermittent": "#1971c2",
    "lumpy": "#9c36b5",
    "new": "#0c8599",
    "inactive": "#868e96",
}
PALETTE = ("#1971c2", "#e67700", "#2b8a3e", "#c2255c", "#5f3dc4", "#0c8599", "#a61e4d", "#5c940d", "#868e96")
HISTORY_PERIODS = {"D": 182, "W": 104, "M": 36}  # history shown before the forecast
FINAL_COLOUR = "#e8590c"  # the adjusted final forecast, and the dots on adjusted periods
SHADE_COLOURS = {"promotion": "#fab005", "holiday": "#fa5252", "event": "#7950f2"}
MAX_LEVEL_NODES = 9  # nodes drawn on the first level's chart (one colour each)
NODE_HISTORY_SKUS = 200  # the most SKUs whose histories are fetched to sum the nodes' histories


@dataclass(frozen=True)
class Shade:
    """A span of days shaded on a chart: [start, end] inclusive, what it is and its label."""

    start: dt.date
    end: dt.date
    kind: str  # "promotion" | "holiday" | "event"
    label: str


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#212529;
margin:0;background:#f8f9fa}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
.sub{color:#6c757d;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#6c757d;font-size:12px;text-transform:uppercase}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.panel{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:12px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:4px 8px;border-bottom:1px solid #e9ecef;text-align:right;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}th{background:#f1f3f5;font-weight:600}
.chart{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:8px 12px;margin:0 0 14px}
.chart h3{font-size:15px;margin:4px 0}.chart p{margin:0 0 4px;color:#6c757d;font-size:12px}
svg text{font:11px system-ui,sans-serif;fill:#495057}
.status-SUCCEEDED{color:#2b8a3e}.status-PARTIAL{color:#e67700}.status-FAILED,.status-CANCELLED{color:#c92a2a}
footer{color:#868e96;font-size:12px;margin-top:32px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        if math.isnan(value):
            return "&ndash;"
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _pct(value: float | None) -> str:
    return "&ndash;" if value is None else f"{100 * value:.1f}%"


# ---------------------------------------------------------------- choosing SKUs
def fit_score(result: dict[str, Any]) -> float | None:
    """Backtest error used to rank fits: MASE, else WAPE; None without a backtest."""
    metrics = result.get("metrics") or {}
    for key in ("mase", "wape"):
        value = metrics.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return None


def worst_fits(results: Iterable[dict[str, Any]], n: int) -> list[str]:
    """The n SKUs with the largest backtest error (MASE, else WAPE) that have a forecast."""
    scored = [(score, r["sku"]) for r in results if r.get("forecast") and (score := fit_score(r)) is not None]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [sku for _, sku in scored[:n]]


def adjusted_periods(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The forecast points whose final forecast differs from the statistical mean."""
    return [p for p in result.get("forecast") or [] if p.get("final") is not None and p.get("final") != p.get("mean")]


def choose_skus(results: Sequence[dict[str, Any]], skus: Sequence[str] | None = None, worst: int = 6) -> list[str]:
    """The SKUs to chart: those asked for, else the adjusted ones (up to `worst`) and the worst
    fits, else the first with a forecast."""
    if skus:
        return list(dict.fromkeys(skus))
    adjusted = [r["sku"] for r in results if adjusted_periods(r)][:worst]
    chosen = list(dict.fromkeys([*adjusted, *worst_fits(results, worst)]))
    if not chosen:
        chosen = [r["sku"] for r in results if r.get("forecast")][:worst]
    return chosen


# ---------------------------------------------------------------- statistics
def group_accuracy(results: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per value of `key` (demand_class or method): SKU count, median MASE, pooled WAPE/MAE,
    coverage per level (weighted by backtest points)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if not r.get("error"):
            groups[str(r.get(key))].append(r)
    rows = []
    for name, items in groups.items():
        mases = [m["mase"] for r in items if isinstance((m := r.get("metrics") or {}).get("mase"), int | float)]
        abs_err = actual = points = 0.0
        covered: Counter[str] = Counter()
        judged: Counter[str] = Counter()  # points of SKUs whose method gives that interval
        for r in items:
            m = r.get("metrics") or {}
            n, mae, wape = m.get("n_points") or 0, m.get("mae"), m.get("wape")
            if n and mae is not None:
                abs_err += mae * n
                points += n
                if wape:
                    actual += mae * n / wape
                for k, v in m.items():
                    if k.startswith("coverage_") and v is not None:
                        covered[k] += v * n
                        judged[k] += n
        row: dict[str, Any] = {
            key: name,
            "skus": len(items),
            "median_mase": statistics.median(mases) if mases else None,
            "wape": abs_err / actual if actual else None,
            "mae": abs_err / points if points else None,
        }
        for k in sorted(covered):
            row[k] = covered[k] / judged[k] if judged[k] else None
        rows.append(row)
    order = {c: i for i, c in enumerate(CLASSES)}
    rows.sort(key=lambda row: (order.get(row[key], 99), -row["skus"], row[key]))
    return rows


# ---------------------------------------------------------------- SVG
def bar_chart(counts: dict[str, int], colours: Callable[[str, int], str], width: int = 500) -> str:
    """Horizontal bars, one per key, labelled with the count and share."""
    items = [(k, v) for k, v in counts.items() if v]
    if not items:
        return "<p>none</p>"
    total = sum(v for _, v in items)
    top = max(v for _, v in items)
    row, label_w, pad = 24, 130, 70
    height = row * len(items) + 8
    parts = [
        f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
    ]
    for i, (name, value) in enumerate(items):
        y = 4 + i * row
        w = max(1.0, (width - label_w - pad) * value / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" rx="2" '
            f'fill="{colours(name, i)}"><title>{_e(name)}: {value}</title></rect>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{value:,} ({100 * value / total:.0f}%)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return [round(i * step, 10) for i in range(first, last + 1)]  # spans [lo, hi]


@dataclass(frozen=True)
class _Plot:
    """A time chart's drawing area: the SVG's width x height less its margins, dates from the
    first to the last left to right, values on nice ticks from 0 (or the lowest, when below) to
    the highest bottom up."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    days: tuple[int, int]  # the first and the last date's ordinals
    ticks: list[float]

    @classmethod
    def over(
        cls,
        dates: Sequence[dt.date],
        values: Sequence[float],
        width: int,
        height: int,
        margins: tuple[int, int, int, int],
    ) -> _Plot:
        """The area that holds these dates and values; `margins`: left, right, top, bottom."""
        left, right, top, bottom = margins
        ticks = _nice_ticks(min(0.0, min(values)), max(values) or 1.0)
        days = (min(dates).toordinal(), max(dates).toordinal())
        return cls(width, height, left, right, top, bottom, days, ticks)

    def x(self, d: dt.date) -> float:
        x0, x1 = self.days
        return self.left + (self.width - self.left - self.right) * ((d.toordinal() - x0) / max(1, x1 - x0))

    def y(self, v: float) -> float:
        y_lo, y_hi = self.ticks[0], self.ticks[-1]
        return self.top + (self.height - self.top - self.bottom) * (1 - (v - y_lo) / ((y_hi - y_lo) or 1))

    def svg(self, css_class: str) -> list[str]:
        """The opening <svg> (scales to the page's width) and the area's white background."""
        width, height, left, right, top, bottom = self.width, self.height, self.left, self.right, self.top, self.bottom
        return [
            f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="100%" '
            f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" role="img">',
            f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" fill="#fff"/>',
        ]

    def axes(self) -> list[str]:
        """Horizontal grid lines with their values, and seven dates along the bottom."""
        out = []
        for t in self.ticks:
            out.append(
                f'<line class="grid" x1="{self.left}" x2="{self.width - self.right}" y1="{self.y(t):.1f}" '
                f'y2="{self.y(t):.1f}" stroke="#e9ecef"/>'
            )
            out.append(f'<text x="{self.left - 6}" y="{self.y(t) + 4:.1f}" text-anchor="end">{_fmt(float(t))}</text>')
        x0, x1 = self.days
        span = max(1, x1 - x0)
        for i in range(7):
            d = dt.date.fromordinal(x0 + round(span * i / 6))
            anchor = "start" if i == 0 else "end" if i == 6 else "middle"
            out.append(f'<text x="{self.x(d):.1f}" y="{self.height - 8}" text-anchor="{anchor}">{d.isoformat()}</text>')
        return out

    def cutover(self, day: dt.date) -> str:
        """The dashed vertical line where the forecast starts."""
        at = self.x(day)
        return (
            f'<line class="cutover" x1="{at:.1f}" x2="{at:.1f}" y1="{self.top}" y2="{self.height - self.bottom}" '
            'stroke="#adb5bd" stroke-dasharray="4 3"/>'
        )


def _period_start(day: dt.date, frequency: str) -> dt.date:
    if frequency == "W":
        return day - dt.timedelta(days=day.weekday())
    if frequency == "M":
        return day.replace(day=1)
    return day


def history_at(
    points: Sequence[dict[str, Any]], frequency: str, until: dt.date | None = None
) -> list[tuple[dt.date, float]]:
    """Daily history points -> (period start, total) at the run frequency, gaps (and the days up
    to `until`, the day before the forecast starts) filled with 0."""
    if not points:
        return []
    daily = {dt.date.fromisoformat(p["date"]): float(p["quantity"]) for p in points}
    first, last = min(daily), max(max(daily), until or min(daily))
    totals: dict[dt.date, float] = {}
    day = first
    while day <= last:
        start = _period_start(day, frequency)
        totals[start] = totals.get(start, 0.0) + daily.get(day, 0.0)
        day += dt.timedelta(days=1)
    return sorted(totals.items())


Point = tuple[dt.date, dict[str, Any]]


def _bands(
    fc: Sequence[Point], levels: Sequence[int], x: Callable[[dt.date], float], y: Callable[[float], float]
) -> list[str]:
    """One closed path per interval level, widest (palest) first."""
    out = []
    for i, level in enumerate(sorted(levels, reverse=True)):
        lo_key, hi_key = f"lo_{level}", f"hi_{level}"
        pts = [(d, p) for d, p in fc if p.get(lo_key) is not None and p.get(hi_key) is not None]
        if not pts:
            continue
        upper = " L".join(f"{x(d):.1f},{y(float(p[hi_key])):.1f}" for d, p in pts)
        lower = " L".join(f"{x(d):.1f},{y(float(p[lo_key])):.1f}" for d, p in reversed(pts))
        opacity = 0.18 + 0.17 * i
        out.append(
            f'<path class="band band-{level}" d="M{upper} L{lower} Z" fill="#1971c2" '
            f'fill-opacity="{opacity:.2f}" stroke="none"><title>{level}% interval</title></path>'
        )
    return out


def forecast_chart(
    result: dict[str, Any],
    history: Sequence[tuple[dt.date, float]],
    levels: Sequence[int],
    width: int = 1040,
    height: int = 260,
    shades: Sequence[Shade] = (),
) -> str:
    """History (line), forecast mean (line) and interval bands (filled paths, widest palest), over
    shaded promotion, holiday and event periods."""
    fc: list[Point] = [(dt.date.fromisoformat(p["date"]), p) for p in result.get("forecast") or []]
    left, right, top, bottom = 56, 16, 12, 28
    dates = [d for d, _ in history] + [d for d, _ in fc]
    values = [v for _, v in history] + [float(p["mean"]) for _, p in fc]
    values += [float(p["final"]) for _, p in fc if p.get("final") is not None]
    for _, p in fc:
        values += [float(p[k]) for k in p if k.startswith(("lo_", "hi_")) and p[k] is not None]
    if not dates:
        return "<p>no data</p>"
    plot = _Plot.over(dates, values, width, height, (left, right, top, bottom))
    x, y = plot.x, plot.y
    out = plot.svg("forecast-chart")
    out += _shade_rects(shades, *plot.days, x, top, height - bottom)
    out += plot.axes()
    out += _bands(fc, levels, x, y)
    if history:
        d_hist = " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in history)
        out.append(f'<path class="history" d="M{d_hist}" fill="none" stroke="#495057" stroke-width="1.2"/>')
    if fc:
        out.append(plot.cutover(fc[0][0]))
        joined = ([history[-1]] if history else []) + [(d, float(p["mean"])) for d, p in fc]
        d_fc = " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in joined)
        out.append(f'<path class="forecast" d="M{d_fc}" fill="none" stroke="#1971c2" stroke-width="2"/>')
    adjusted = bool(adjusted_periods(result))
    if adjusted:
        out += _final_marks(fc, x, y)
    legend_x = left + 8
    out.append(
        f'<g class="legend" transform="translate({legend_x},{top + 4})">'
        f'<rect width="{380 if adjusted else 250}" height="18" fill="#fff" fill-opacity="0.85"/>'
        '<line x1="4" x2="22" y1="9" y2="9" stroke="#495057" stroke-width="1.2"/>'
        '<text x="26" y="13">history</text>'
        '<line x1="80" x2="98" y1="9" y2="9" stroke="#1971c2" stroke-width="2"/>'
        '<text x="102" y="13">forecast</text>'
        f'<rect x="160" y="3" width="18" height="12" fill="#1971c2" fill-opacity="0.35"/>'
        f'<text x="182" y="13">{"/".join(str(lv) for lv in sorted(levels))}%</text>'
        + (
            f'<line x1="250" x2="268" y1="9" y2="9" stroke="{FINAL_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/>'
            f'<circle cx="259" cy="9" r="3" fill="{FINAL_COLOUR}"/><text x="272" y="13">final (adjusted)</text>'
            if adjusted
            else ""
        )
        + "</g>"
    )
    out += _shade_legend(shades, left + 8, top + 26)
    out.append("</svg>")
    return "".join(out)


def _shade_rects(
    shades: Sequence[Shade], x0: int, x1: int, x: Callable[[dt.date], float], top: float, bottom: float
) -> list[str]:
    """One translucent column per shaded span within the chart's dates (its last day included)."""
    out = []
    for shade in shades:
        first, last = max(shade.start.toordinal(), x0), min(shade.end.toordinal() + 1, x1)
        if first >= last and not (first == last == shade.start.toordinal()):
            continue
        left_x = x(dt.date.fromordinal(first))
        right_x = max(x(dt.date.fromordinal(last)), left_x + 2.0)
        out.append(
            f'<rect class="shade shade-{_e(shade.kind)}" x="{left_x:.1f}" y="{top}" width="{right_x - left_x:.1f}" '
            f'height="{bottom - top}" fill="{SHADE_COLOURS.get(shade.kind, "#adb5bd")}" fill-opacity="0.18">'
            f"<title>{_e(shade.label)}: {shade.start.isoformat()}"
            + (f" to {shade.end.isoformat()}" if shade.end != shade.start else "")
            + "</title></rect>"
        )
    return out


def _shade_legend(shades: Sequence[Shade], x: float, y: float) -> list[str]:
    kinds = [k for k in SHADE_COLOURS if any(s.kind == k for s in shades)]
    if not kinds:
        return []
    parts = [f'<g class="shade-legend" transform="translate({x},{y})">']
    parts.append(f'<rect width="{20 + 95 * len(kinds)}" height="18" fill="#fff" fill-opacity="0.85"/>')
    for i, kind in enumerate(kinds):
        parts.append(
            f'<rect x="{4 + 95 * i}" y="3" width="18" height="12" fill="{SHADE_COLOURS[kind]}" fill-opacity="0.35"/>'
            f'<text x="{26 + 95 * i}" y="13">{kind}</text>'
        )
    parts.append("</g>")
    return parts


# ---------------------------------------------------------------- drivers: shading and effects
def _spans(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days joined into [start, end] spans."""
    spans: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if spans and (day - spans[-1][1]).days == 1:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return [(a, b) for a, b in spans]


def _days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def promotion_days(
    values: Mapping[str, Sequence[Mapping[str, Any]]],
    flags: Iterable[str],
    sku: str,
    scenario: Mapping[str, Any] | None = None,
    first_forecast: dt.date | None = None,
) -> dict[str, set[dt.date]]:
    """Per flag driver, the days it is 1 for this SKU: its stored values, then a scenario's `set`
    changes on the days from the first forecast day (what the scenario run forecast with)."""
    out: dict[str, set[dt.date]] = {}
    for name in flags:
        days = {dt.date.fromisoformat(p["date"]) for p in values.get(name, ()) if float(p["value"]) == 1.0}
        for change in (scenario or {}).get("changes") or ():
            if change.get("driver") != name or change.get("set") is None:
                continue
            if change.get("skus") is not None and sku not in change["skus"]:
                continue
            start, end = dt.date.fromisoformat(change["start"]), dt.date.fromisoformat(change["end"])
            if first_forecast is not None:
                start = max(start, first_forecast)
            changed = set(_days(start, end))
            days = days | changed if float(change["set"]) == 1.0 else days - changed
        if days:
            out[name] = days
    return out


def holiday_days(codes: Sequence[str], start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """Public holidays in the codes between start and end, when the `holidays` package is
    installed ({} otherwise: the API does not list holiday dates)."""
    try:
        import holidays
    except ImportError:
        return {}
    found: dict[dt.date, str] = {}
    years = list(range(start.year, end.year + 1))
    for code in codes:
        country, _, sub = code.partition("-")
        try:
            table = holidays.country_holidays(country, subdiv=sub or None, years=years)
        except (KeyError, NotImplementedError):
            continue
        found.update({d: str(n) for d, n in table.items() if start <= d <= end and d not in found})
    return found


def chart_shades(
    sku: str,
    driver_values: Mapping[str, Sequence[Mapping[str, Any]]],
    flags: Iterable[str],
    calendar: Mapping[str, Any],
    scenario: Mapping[str, Any] | None,
    start: dt.date,
    end: dt.date,
    first_forecast: dt.date | None = None,
) -> list[Shade]:
    """The shaded spans of one SKU's chart between start and end."""
    shades = [
        Shade(a, b, "promotion", name)
        for name, days in promotion_days(driver_values, flags, sku, scenario, first_forecast).items()
        for a, b in _spans(d for d in days if start <= d <= end)
    ]
    holidays_found = holiday_days(list(calendar.get("holidays") or ()), start, end)
    shades += [Shade(d, d, "holiday", name) for d, name in sorted(holidays_found.items())]
    events = [*(calendar.get("events") or ()), *((scenario or {}).get("events") or ())]
    for event in events:
        if event.get("skus") is not None and sku not in event["skus"]:
            continue
        days = [dt.date.fromisoformat(d) for d in event.get("dates") or ()]
        shades += [Shade(a, b, "event", str(event["name"])) for a, b in _spans(d for d in days if start <= d <= end)]
    return shades


def effects_table(result: Mapping[str, Any]) -> str:
    """The drivers a SKU's forecast used, what each adds over the horizon, and its warnings."""
    used, effects, warnings = (
        result.get("drivers_used") or [],
        result.get("effects") or [],
        result.get("warnings") or [],
    )
    if not (used or effects or warnings):
        return ""
    parts = ['<div class="effects">']
    if used:
        parts.append(f"<p>drivers used: {_e(', '.join(used))}</p>")
    if effects:
        rows = [{"name": e.get("name"), "units": e.get("units"), "share": e.get("share")} for e in effects]
        parts.append(
            _table(
                rows,
                [("name", "driver / holiday / event", _e), ("units", "adds (units)", _fmt), ("share", "share", _pct)],
            )
        )
    for w in warnings:
        parts.append(f'<p class="warning">{_e(w.get("code"))}: {_e(w.get("message"))}</p>')
    parts.append("</div>")
    return "".join(parts)


def _final_marks(fc: Sequence[Point], x: Callable[[dt.date], float], y: Callable[[float], float]) -> list[str]:
    """The final forecast as a dashed line beside the mean, and a dot on every adjusted period."""
    finals = [(d, float(p["final"] if p.get("final") is not None else p["mean"])) for d, p in fc]
    d_final = " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in finals)
    out = [
        f'<path class="final" d="M{d_final}" fill="none" stroke="{FINAL_COLOUR}" stroke-width="2" '
        'stroke-dasharray="5 3"/>'
    ]
    for d, p in fc:
        if p.get("final") is not None and p.get("final") != p.get("mean"):
            out.append(
                f'<circle class="adjusted" cx="{x(d):.1f}" cy="{y(float(p["final"])):.1f}" r="3.5" '
                f'fill="{FINAL_COLOUR}"><title>{d.isoformat()}: final {_fmt(float(p["final"]))}, '
                f"mean {_fmt(float(p['mean']))}</title></circle>"
            )
    return out


# ---------------------------------------------------------------- the page
def _adjusted_note(result: dict[str, Any]) -> str:
    """What adjustments did to a SKU's forecast, for its chart's caption ("" when none did)."""
    changed = adjusted_periods(result)
    if not changed:
        return ""
    points = result.get("forecast") or []
    mean = sum(float(p["mean"]) for p in points)
    final = sum(float(p["final"] if p.get("final") is not None else p["mean"]) for p in points)
    return (
        f' · <b class="adjusted-note" style="color:{FINAL_COLOUR}">{len(changed)} adjusted period(s), '
        f"{result.get('adjustments', 0)} adjustment(s): total final {_fmt(final)} vs mean {_fmt(mean)}</b>"
    )


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, Callable[[Any], str]]]) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt(row.get(key))}</td>" for key, _, fmt in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _accuracy_columns(rows: list[dict[str, Any]], key: str, label: str) -> list[tuple[str, str, Callable[[Any], str]]]:
    coverage = sorted({k for row in rows for k in row if k.startswith("coverage_")}, key=lambda k: int(k[9:]))
    return [
        (key, label, _e),
        ("skus", "SKUs", _fmt),
        ("median_mase", "median MASE", _fmt),
        ("wape", "WAPE", _pct),
        ("mae", "MAE", _fmt),
        *[(k, f"coverage {k[9:]}%", _pct) for k in coverage],
    ]


SCORED = (("metrics", "forecast"), ("naive", "seasonal naive"), ("final", "final (adjusted)"))


def actuals_section(accuracy: Mapping[str, Any] | None) -> list[str]:
    """The "accuracy against actuals" section: the forecast, the seasonal-naive benchmark and the
    final forecast scored on the actuals that arrived (nothing when none has)."""
    if not accuracy or not accuracy.get("points_scored"):
        return []
    out = [
        '<section id="actuals"><h2>Accuracy against actuals</h2>',
        f'<p class="sub">{_fmt(accuracy.get("points_scored"))} periods of {_fmt(accuracy.get("skus_scored"))} SKUs '
        f"scored, actuals through {_e(accuracy.get('actuals_through'))}. Forecast Value Added: a forecast "
        "adds value where its error is below the seasonal-naive benchmark's.</p>",
    ]
    columns: list[tuple[str, str, Callable[[Any], str]]] = [
        ("scored", "", _e),
        ("mae", "MAE", _fmt),
        ("rmse", "RMSE", _fmt),
        ("wape", "WAPE", _pct),
        ("bias", "bias", _fmt),
        ("mase", "MASE", _fmt),
        ("coverage_80", "coverage 80%", _pct),
        ("coverage_95", "coverage 95%", _pct),
    ]
    rows = [{"scored": label, **(accuracy.get(name) or {})} for name, label in SCORED]
    out.append(_table(rows, columns))
    for dimension, label in (("by_class", "demand class"), ("by_method", "method")):
        groups = accuracy.get(dimension) or {}
        grouped = [
            {
                "key": key,
                "points": g.get("points_scored"),
                **{f"{name}_wape": (g.get(name) or {}).get("wape") for name, _ in SCORED},
                "mase": (g.get("metrics") or {}).get("mase"),
            }
            for key, g in sorted(groups.items())
        ]
        cols: list[tuple[str, str, Callable[[Any], str]]] = [
            ("key", label, _e),
            ("points", "periods", _fmt),
            *[(f"{name}_wape", f"WAPE {text}", _pct) for name, text in SCORED],
            ("mase", "MASE forecast", _fmt),
        ]
        out.append(f"<h3>By {label}</h3>" + _table(grouped, cols))
    out.append("</section>")
    return out


@dataclass(frozen=True)
class LevelCharts:
    """What a hierarchy run's level charts draw: the run's hierarchy levels, the total node and
    the first level's nodes (`GET /runs/{id}/nodes` items), each node's history at the run's
    frequency (empty when not fetched) and a note on what is left out."""

    levels: Sequence[str]
    total: Mapping[str, Any] | None
    first: Sequence[Mapping[str, Any]]
    histories: Mapping[str, Sequence[tuple[dt.date, float]]]
    note: str | None = None


def node_label(node: Mapping[str, Any]) -> str:
    """A node's value at its own level ("unassigned" for the SKUs missing it; "total")."""
    if node.get("level") == "total":
        return "total"
    value = (node.get("key") or {}).get(node.get("level"))
    return "unassigned" if value is None else str(value)


def level_chart(
    nodes: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Sequence[tuple[dt.date, float]]],
    width: int = 1040,
    height: int = 300,
) -> str:
    """Several nodes on one chart: each node's history (thin) and reconciled forecast (thick) in
    its own colour, a legend naming them."""
    lines: list[tuple[str, str, list[tuple[dt.date, float]], list[tuple[dt.date, float]]]] = []
    for i, node in enumerate(nodes):
        fc = [(dt.date.fromisoformat(p["date"]), float(p["mean"])) for p in node.get("forecast") or []]
        hist = list(histories.get(str(node["node_id"]), ()))
        lines.append((node_label(node), PALETTE[i % len(PALETTE)], hist, fc))
    dates = [d for _, _, h, f in lines for d, _ in [*h, *f]]
    values = [v for _, _, h, f in lines for _, v in [*h, *f]]
    if not dates:
        return "<p>no data</p>"
    left, top = 56, 12 + 18 * math.ceil(len(lines) / 5)  # the legend's rows (five nodes each) above
    plot = _Plot.over(dates, values, width, height, (left, 16, top, 28))
    x, y = plot.x, plot.y
    out = plot.svg("level-chart")
    out += plot.axes()
    starts = [f[0][0] for _, _, _, f in lines if f]
    if starts:
        out.append(plot.cutover(min(starts)))
    for i, (label, colour, hist, fc) in enumerate(lines):
        if hist:
            d_hist = " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in hist)
            out.append(
                f'<path class="node-history" d="M{d_hist}" fill="none" stroke="{colour}" stroke-width="1" '
                f'stroke-opacity="0.6"><title>{_e(label)}: history</title></path>'
            )
        if fc:
            joined = hist[-1:] + fc
            d_fc = " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in joined)
            out.append(
                f'<path class="node-forecast" d="M{d_fc}" fill="none" stroke="{colour}" stroke-width="2.2">'
                f"<title>{_e(label)}: reconciled forecast</title></path>"
            )
        lx, ly = left + 8 + 200 * (i % 5), 6 + 18 * (i // 5)
        short = label if len(label) <= 24 else label[:23] + "…"
        out.append(
            f'<g class="legend"><line x1="{lx}" x2="{lx + 18}" y1="{ly + 6}" y2="{ly + 6}" stroke="{colour}" '
            f'stroke-width="2.2"/><text x="{lx + 22}" y="{ly + 10}">{_e(short)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def hierarchy_section(charts: LevelCharts, levels: Sequence[int]) -> list[str]:
    """The level charts of a hierarchy run: the total, then its first level's nodes."""
    hierarchy = " → ".join(["total", *charts.levels, "SKU"])
    out = [
        '<section id="hierarchy"><h2>Hierarchy levels</h2>',
        f'<p class="sub">{_e(hierarchy)}: reconciled forecasts, which add up from the SKUs to the total '
        "at every date." + (f" {_e(charts.note)}" if charts.note else "") + "</p>",
    ]
    if charts.total is not None:
        total = charts.total
        hist = list(charts.histories.get(str(total["node_id"]), ()))
        out.append(
            f'<div class="chart" data-level="total"><h3>total</h3><p>{_fmt(total.get("skus"))} SKUs · '
            f"reconciliation {_e(total.get('reconciliation'))} · base method {_e(total.get('base_method'))}</p>"
            + forecast_chart(dict(total), hist, levels)
            + "</div>"
        )
    if charts.first and charts.levels:
        out.append(
            f'<div class="chart" data-level="{_e(charts.levels[0])}"><h3>{_e(charts.levels[0])}</h3>'
            f"<p>{len(charts.first)} nodes shown, by forecast volume</p>"
            + level_chart(charts.first, charts.histories)
            + "</div>"
        )
    out.append("</section>")
    return out


def build_report(
    run: dict[str, Any],
    results: Sequence[dict[str, Any]],
    histories: Mapping[str, Sequence[dict[str, Any]]],
    chart_skus: Sequence[str],
    *,
    title: str | None = None,
    generated_at: dt.datetime | None = None,
    accuracy: Mapping[str, Any] | None = None,
    shades: Mapping[str, Sequence[Shade]] | None = None,
    hierarchy: LevelCharts | None = None,
) -> str:
    """The report's HTML. `histories` maps each charted SKU to its daily points `[{date, quantity}]`;
    `shades` each charted SKU to its promotion, holiday and event spans (`chart_shades`);
    `hierarchy` a hierarchy run's level charts (`level_charts`)."""
    params = run.get("params") or {}
    frequency = str(params.get("frequency", "D"))
    levels = [int(v) for v in params.get("levels", [80, 95])]
    summary = run.get("summary") or {}
    progress = run.get("progress") or {}
    by_class = summary.get("by_class") or dict(Counter(r.get("demand_class") for r in results if not r.get("error")))
    by_method = summary.get("by_method") or dict(Counter(r.get("method") for r in results if not r.get("error")))
    by_class = {c: int(by_class[c]) for c in [*CLASSES, *sorted(set(by_class) - set(CLASSES))] if by_class.get(c)}
    by_method = dict(sorted(((str(k), int(v)) for k, v in by_method.items()), key=lambda kv: (-kv[1], kv[0])))
    metrics = summary.get("metrics") or {}
    failed = [r for r in results if r.get("error")]
    generated = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    name = title or run.get("name") or f"Forecast run {run.get('run_id')}"

    cards = [
        ("status", f'<b class="status-{_e(run.get("status"))}">{_e(run.get("status"))}</b>'),
        ("SKUs forecast", f"<b>{_fmt(progress.get('skus_done'))}</b>"),
        ("SKUs failed", f"<b>{_fmt(progress.get('skus_failed'))}</b>"),
        ("horizon", f"<b>{_e(params.get('horizon'))} &times; {_e(frequency)}</b>"),
        ("levels", f"<b>{_e(', '.join(f'{lv}%' for lv in levels))}</b>"),
        ("method", f"<b>{_e(params.get('method', 'auto'))}</b>"),
        ("backtest windows", f"<b>{_e(params.get('backtest_windows', 1))}</b>"),
        ("SKUs adjusted", f"<b>{sum(1 for r in results if adjusted_periods(r)):,}</b>"),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(name)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{_e(name)}</h1>",
        f'<p class="sub">run <code>{_e(run.get("run_id"))}</code> · trigger {_e(run.get("trigger"))} · '
        f"created {_e(run.get('created_at'))} · finished {_e(run.get('finished_at'))} · "
        f"report {generated}</p>",
        '<section id="summary"><div class="cards">',
        *[f'<div class="card">{value}<span>{_e(label)}</span></div>' for label, value in cards],
        "</div></section>",
        '<section id="mix"><div class="grid">',
        '<div class="panel"><h2>Demand classes</h2>',
        bar_chart(by_class, lambda c, i: CLASS_COLOURS.get(c, PALETTE[i % len(PALETTE)])),
        '</div><div class="panel"><h2>Methods</h2>',
        bar_chart(by_method, lambda m, i: PALETTE[i % len(PALETTE)]),
        "</div></div></section>",
        '<section id="accuracy"><h2>Accuracy (backtest)</h2>',
    ]
    if metrics:
        metric_rows = [
            ("MASE", _fmt(metrics.get("mase"))),
            ("WAPE", _pct(metrics.get("wape"))),
            ("MAE", _fmt(metrics.get("mae"))),
            ("RMSE", _fmt(metrics.get("rmse"))),
            ("sMAPE", _fmt(metrics.get("smape"))),
            ("bias (mean error)", _fmt(metrics.get("bias"))),
            ("backtest points", _fmt(int(metrics.get("n_points") or 0))),
            *[(f"coverage of the {lv}% interval", _pct(metrics.get(f"coverage_{lv}"))) for lv in levels],
        ]
        out.append(
            '<div class="cards">'
            + "".join(f'<div class="card"><b>{v}</b><span>{_e(k)}</span></div>' for k, v in metric_rows)
            + "</div>"
        )
        for key, label in (("demand_class", "demand class"), ("method", "method")):
            rows = group_accuracy(results, key)
            out.append(f"<h3>By {label}</h3>" + _table(rows, _accuracy_columns(rows, key, label)))
    else:
        out.append("<p>No backtest in this run (backtest_windows = 0).</p>")
    out.append("</section>")
    out += actuals_section(accuracy)
    if hierarchy is not None:
        out += hierarchy_section(hierarchy, levels)

    by_sku = {r["sku"]: r for r in results}
    out.append('<section id="charts"><h2>Forecasts</h2>')
    out.append(
        f'<p class="sub">{"Chosen SKUs" if chart_skus else "No SKUs to chart"}: the last '
        f"{HISTORY_PERIODS.get(frequency, 182)} periods of history, the forecast and its "
        f"{'/'.join(str(lv) for lv in levels)}% intervals (darker = narrower).</p>"
    )
    for sku in chart_skus:
        r = by_sku.get(sku)
        if r is None:
            out.append(f'<div class="chart"><h3>{_e(sku)}</h3><p>not in this run</p></div>')
            continue
        forecast = r.get("forecast") or []
        until = dt.date.fromisoformat(forecast[0]["date"]) - dt.timedelta(days=1) if forecast else None
        hist = history_at(histories.get(sku, []), frequency, until)[-HISTORY_PERIODS.get(frequency, 182) :]
        m = r.get("metrics") or {}
        out.append(
            f'<div class="chart" data-sku="{_e(sku)}"><h3>{_e(sku)}</h3>'
            f"<p>class {_e(r.get('demand_class'))} · method {_e(r.get('method'))} · "
            f"MASE {_fmt(m.get('mase'))} · "
            f"WAPE {_pct(m.get('wape'))}"
            + (f" · error {_e((r.get('error') or {}).get('code'))}" if r.get("error") else "")
            + _adjusted_note(r)
            + "</p>"
            + (
                forecast_chart(r, hist, levels, shades=(shades or {}).get(sku, ()))
                if r.get("forecast")
                else "<p>no forecast</p>"
            )
            + effects_table(r)
            + "</div>"
        )
    out.append("</section>")
    if failed:
        out.append(f'<section id="failed"><h2>SKUs without a forecast ({len(failed)})</h2>')
        rows = [
            {
                "sku": r["sku"],
                "code": (r.get("error") or {}).get("code"),
                "message": (r.get("error") or {}).get("message"),
            }
            for r in failed[:100]
        ]
        out.append(_table(rows, [("sku", "SKU", _e), ("code", "code", _e), ("message", "message", _e)]))
        out.append("</section>")
    out.append("<footer>Generated by skucast-client. Self-contained: no scripts, no network.</footer>")
    out.append("</main></body></html>")
    return "\n".join(out)


def write_report(
    client: Client,
    run_id: str,
    path: Any,
    *,
    skus: Sequence[str] | None = None,
    worst: int = 6,
    title: str | None = None,
    run: dict[str, Any] | None = None,
    results: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Fetch a run, its results (unless given: a finished run's never change) and the charted
    SKUs' history; write the HTML report to `path`. Returns `{path, run, charted}`."""
    from pathlib import Path

    run = run if run is not None else client.run(run_id)
    results = results if results is not None else client.results(run_id)
    chosen = choose_skus(results, skus, worst)
    histories = {sku: client.demand(sku) for sku in chosen}
    accuracy = client.accuracy(run_id) if run.get("status") in ("SUCCEEDED", "PARTIAL") else None
    shades = _shades_for(client, run, results, chosen, histories)
    charts = level_charts(client, run, results)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    html_text = build_report(
        run, results, histories, chosen, title=title, accuracy=accuracy, shades=shades, hierarchy=charts
    )
    target.write_text(html_text, encoding="utf-8")
    return {"path": str(target), "run": run, "charted": chosen}


def _shades_for(
    client: Client,
    run: Mapping[str, Any],
    results: Sequence[dict[str, Any]],
    chosen: Sequence[str],
    histories: Mapping[str, Sequence[dict[str, Any]]],
) -> dict[str, list[Shade]]:
    """Each charted SKU's shaded spans, over its history and forecast."""
    if run.get("params", {}).get("drivers") == "none" or not chosen:
        return {}
    flags = [d["name"] for d in client.drivers() if d.get("kind") == "flag"]
    calendar = client.calendar()
    by_sku = {r["sku"]: r for r in results}
    out: dict[str, list[Shade]] = {}
    for sku in chosen:
        forecast = (by_sku.get(sku) or {}).get("forecast") or []
        dates = [p["date"] for p in histories.get(sku, ())] + [p["date"] for p in forecast]
        if not dates:
            continue
        start, end = dt.date.fromisoformat(min(dates)), dt.date.fromisoformat(max(dates)) + dt.timedelta(days=31)
        values = client.sku_drivers(sku) if flags else {}
        first = dt.date.fromisoformat(forecast[0]["date"]) if forecast else None
        out[sku] = chart_shades(sku, values, flags, calendar, run.get("scenario"), start, end, first)
    return out


def _volume(node: Mapping[str, Any]) -> float:
    return sum(float(p.get("mean") or 0.0) for p in node.get("forecast") or [])


def level_charts(client: Client, run: Mapping[str, Any], results: Sequence[dict[str, Any]]) -> LevelCharts | None:
    """A hierarchy run's level charts: its nodes (GET /runs/{id}/nodes) and, for a run of at most
    NODE_HISTORY_SKUS SKUs, each drawn node's history summed from its SKUs' (the SKUs under each
    deepest node, GET /runs/{id}/nodes/{node_id}); None for a run without a hierarchy or nodes."""
    params = run.get("params") or {}
    levels = [str(v) for v in params.get("hierarchy_levels") or []]
    if not levels or run.get("status") not in ("SUCCEEDED", "PARTIAL"):
        return None
    run_id = str(run["run_id"])
    nodes = client.node_items(run_id)
    if not nodes:
        return None
    total = next((n for n in nodes if n.get("level") == "total"), None)
    first_all = sorted((n for n in nodes if n.get("level") == levels[0]), key=lambda n: -_volume(n))
    first = first_all[:MAX_LEVEL_NODES]
    notes = []
    if len(first_all) > len(first):
        notes.append(f"The first level's chart shows its {len(first)} largest of {len(first_all)} nodes.")
    forecast_skus = [r["sku"] for r in results if r.get("forecast") and not r.get("error")]
    histories: dict[str, list[tuple[dt.date, float]]] = {}
    if len(forecast_skus) > NODE_HISTORY_SKUS:
        notes.append(
            f"Node histories are not drawn: they are summed from the SKUs' and this run has "
            f"{len(forecast_skus):,} (more than {NODE_HISTORY_SKUS})."
        )
    elif total is not None:
        histories = _node_histories(client, run, nodes, levels, [total, *first])
    return LevelCharts(levels, total, first, histories, " ".join(notes) or None)


def _node_histories(
    client: Client,
    run: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    levels: Sequence[str],
    drawn: Sequence[Mapping[str, Any]],
) -> dict[str, list[tuple[dt.date, float]]]:
    """The drawn nodes' histories at the run's frequency: each one the sum of the histories of
    the SKUs under it, up to the day before the forecast."""
    frequency = str((run.get("params") or {}).get("frequency", "D"))
    parent = {str(n["node_id"]): n.get("parent") for n in nodes}
    wanted = {str(n["node_id"]) for n in drawn}
    deepest = [n for n in nodes if n.get("level") == levels[-1]]
    sums: dict[str, dict[dt.date, float]] = {node: {} for node in wanted}
    first_day = min((dt.date.fromisoformat(p["date"]) for n in drawn for p in n.get("forecast") or []), default=None)
    until = first_day - dt.timedelta(days=1) if first_day else None
    for leaf in deepest:
        chain, at = [], str(leaf["node_id"])
        while at:
            chain.append(at)
            at = parent.get(at) or ""
        targets = [c for c in chain if c in wanted]
        if not targets:
            continue
        for sku in client.node(str(run["run_id"]), str(leaf["node_id"])).get("children") or []:
            for day, value in history_at(client.demand(sku), frequency, until):
                for target in targets:
                    sums[target][day] = sums[target].get(day, 0.0) + value
    keep = HISTORY_PERIODS.get(frequency, 182)
    return {node: sorted(points.items())[-keep:] for node, points in sums.items()}
