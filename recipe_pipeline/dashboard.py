"""The stakeholder dashboard: one self-contained HTML page (inline SVG charts and CSS, no
network access needed to open it), drawn from the same metrics as the reports.

Charts: daily/weekly/monthly active users (line), top 10 recipes of the last 7 days (bar),
average conversation length (line), recipe category distribution (pie), retention cohorts
(table heat map), usage by day of week and hour (heat map), tool adoption (bar), outcomes.
A small inline script counts the marks each chart actually rendered (non-empty bounding boxes)
into ``data-rendered-marks`` attributes, which the browser test reads.
"""

from __future__ import annotations

import html
import math
from datetime import date
from typing import Any

# One colour per category pie slice: the catalogue's categories and "other".
PALETTE = ["#2f6fb0", "#e07b39", "#3a9d5d", "#c0392b", "#8e6bbf", "#b8860b", "#16a2b8", "#d35d90", "#6c757d", "#5f8d3a", "#a0522d", "#1f4e79",
           "#7f7f00", "#4b0082"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def line_chart(chart_id: str, labels: list[str], series: dict[str, list[float | None]], *, width: int = 640, height: int = 260, unit: str = "") -> str:
    pad_left, pad_right, pad_top, pad_bottom = 48, 110, 16, 36
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values) if values else 1
    top = top * 1.1 if top > 0 else 1
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    x = lambda i: pad_left + (inner_w * i / max(len(labels) - 1, 1))  # noqa: E731
    y = lambda v: pad_top + inner_h - inner_h * v / top  # noqa: E731
    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" role="img">']
    for k in range(5):
        value = top * k / 4
        parts.append(f'<line x1="{pad_left}" x2="{pad_left + inner_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>')
        parts.append(f'<text x="{pad_left - 6}" y="{y(value) + 4:.1f}" class="axis" text-anchor="end">{value:.0f}{unit}</text>' if top >= 8 else
                     f'<text x="{pad_left - 6}" y="{y(value) + 4:.1f}" class="axis" text-anchor="end">{value:.1f}{unit}</text>')
    step = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 12}" class="axis" text-anchor="middle">{_esc(label[5:] if len(label) == 10 else label)}</text>')
    for n, (name, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = [(x(i), y(v)) for i, v in enumerate(points) if v is not None]
        if coords:
            path = " ".join(f"{'M' if j == 0 else 'L'}{cx:.1f},{cy:.1f}" for j, (cx, cy) in enumerate(coords))
            parts.append(f'<path d="{path}" class="mark line" stroke="{color}"><title>{_esc(name)}</title></path>')
            for cx, cy in coords:
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{color}" class="mark"/>')
        parts.append(f'<rect x="{width - pad_right + 12}" y="{pad_top + 18 * n}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{width - pad_right + 28}" y="{pad_top + 18 * n + 9}" class="legend">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(chart_id: str, items: list[tuple[str, float]], *, width: int = 640, bar_height: int = 22, value_format: str = "{:.0f}") -> str:
    label_w, pad = 190, 8
    height = pad * 2 + bar_height * max(len(items), 1)
    top = max((v for _, v in items), default=1) or 1
    inner = width - label_w - 60
    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" role="img">']
    for i, (label, value) in enumerate(items):
        y = pad + i * bar_height
        w = max(inner * value / top, 1)
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_height * 0.7:.1f}" class="axis" text-anchor="end">{_esc(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_height - 6}" fill="{PALETTE[0]}" class="mark"><title>{_esc(label)}: {value}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height * 0.7:.1f}" class="axis">{value_format.format(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def pie_chart(chart_id: str, items: list[tuple[str, float]], *, size: int = 260) -> str:
    total = sum(v for _, v in items) or 1
    radius, cx, cy = size / 2 - 10, size / 2, size / 2
    width = size + 220
    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {max(size, 22 * len(items) + 20)}" role="img">']
    angle = -math.pi / 2
    for n, (label, value) in enumerate(items):
        share = value / total
        end = angle + 2 * math.pi * share
        color = PALETTE[n % len(PALETTE)]
        if share >= 0.9999:
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="{color}" class="mark"><title>{_esc(label)}</title></circle>')
        elif share > 0:
            large = 1 if end - angle > math.pi else 0
            x1, y1 = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            x2, y2 = cx + radius * math.cos(end), cy + radius * math.sin(end)
            parts.append(f'<path d="M{cx},{cy} L{x1:.2f},{y1:.2f} A{radius},{radius} 0 {large} 1 {x2:.2f},{y2:.2f} Z" fill="{color}" class="mark">'
                         f'<title>{_esc(label)}: {share:.1%}</title></path>')
        parts.append(f'<rect x="{size + 10}" y="{10 + 22 * n}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{size + 28}" y="{20 + 22 * n}" class="legend">{_esc(label)} {share:.1%}</text>')
        angle = end
    parts.append("</svg>")
    return "".join(parts)


def heatmap(chart_id: str, cells: dict[tuple[int, int], float], *, rows: list[str], columns: list[str], cell: int = 22) -> str:
    top = max(cells.values(), default=1) or 1
    left, head = 44, 20
    width, height = left + cell * len(columns) + 10, head + cell * len(rows) + 10
    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" role="img">']
    for c, label in enumerate(columns):
        if c % 3 == 0:
            parts.append(f'<text x="{left + c * cell + cell / 2}" y="14" class="axis" text-anchor="middle">{_esc(label)}</text>')
    for r, label in enumerate(rows):
        parts.append(f'<text x="{left - 6}" y="{head + r * cell + cell * 0.7:.1f}" class="axis" text-anchor="end">{_esc(label)}</text>')
        for c in range(len(columns)):
            value = cells.get((r, c), 0)
            opacity = 0.06 + 0.94 * value / top
            parts.append(f'<rect x="{left + c * cell}" y="{head + r * cell}" width="{cell - 2}" height="{cell - 2}" fill="{PALETTE[0]}" '
                         f'fill-opacity="{opacity:.3f}" class="mark"><title>{_esc(label)} {_esc(columns[c])}: {value:.0f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def cohort_table(cohorts: list[dict[str, Any]]) -> str:
    def cell(rate: float | None) -> str:
        if rate is None:
            return '<td class="na">—</td>'
        return f'<td class="mark" style="background: rgba(47,111,176,{0.1 + 0.9 * rate:.2f})">{rate:.0%}</td>'

    rows = "".join(
        f"<tr><th>{_esc(c['cohort'])}</th><td>{c['users']}</td>{cell(c['day_1_rate'])}{cell(c['day_7_rate'])}{cell(c['day_30_rate'])}</tr>"
        for c in cohorts
    )
    return (f'<table id="retention-cohorts" class="chart cohorts"><thead><tr><th>cohort (first seen)</th><th>users</th>'
            f"<th>day 1</th><th>day 7</th><th>day 30</th></tr></thead><tbody>{rows}</tbody></table>")


STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; background: #f5f6f8; color: #222; }
header { background: #1f4e79; color: white; padding: 18px 28px; }
header h1 { margin: 0; font-size: 22px; } header p { margin: 4px 0 0; opacity: 0.85; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 18px; padding: 18px 28px; }
section { background: white; border-radius: 8px; padding: 14px 18px; box-shadow: 0 1px 3px rgba(0,0,0,0.08); }
section h2 { font-size: 16px; margin: 0 0 4px; } section p.note { font-size: 12px; color: #666; margin: 0 0 8px; }
.kpis { display: flex; gap: 14px; flex-wrap: wrap; } .kpi { background: #eef3f8; border-radius: 6px; padding: 8px 12px; min-width: 110px; }
.kpi b { display: block; font-size: 20px; } .kpi span { font-size: 12px; color: #555; }
svg.chart { width: 100%; height: auto; } .grid { stroke: #e3e6ea; } .axis { font-size: 11px; fill: #555; } .legend { font-size: 12px; fill: #333; }
path.line { fill: none; stroke-width: 2.2; }
table.cohorts { border-collapse: collapse; font-size: 12px; width: 100%; } table.cohorts td, table.cohorts th { padding: 4px 8px; text-align: right; border-bottom: 1px solid #eee; }
table.cohorts td.na { color: #aaa; }
"""

# Counts, per chart, the marks that have a real size on screen once laid out.
RENDER_CHECK = """
window.addEventListener("load", function () {
  var charts = document.querySelectorAll(".chart"), rendered = 0;
  charts.forEach(function (chart) {
    var marks = 0;
    chart.querySelectorAll(".mark").forEach(function (mark) {
      var box = mark.getBoundingClientRect();
      if (box.width > 0 && box.height > 0) { marks += 1; }
    });
    chart.setAttribute("data-rendered-marks", String(marks));
    if (marks > 0) { rendered += 1; }
  });
  document.body.setAttribute("data-rendered-charts", String(rendered));
  document.body.setAttribute("data-charts", String(charts.length));
});
"""


def render_dashboard(data: dict[str, Any]) -> str:
    """The page for ``data`` (see ``reporting.dashboard_data``)."""
    active = data["active_users"]
    labels = [row["date"] for row in active]
    kpis = data["kpis"]
    kpi_html = "".join(f'<div class="kpi"><b>{_esc(value)}</b><span>{_esc(name)}</span></div>' for name, value in kpis.items())
    heat_cells = {(row["day_of_week"] - 1, row["hour_of_day"]): row["messages"] for row in data["heatmap"]}
    sections = [
        ("Daily active users", "Distinct users per day, with rolling 7-day (WAU) and 28-day (MAU) windows.",
         line_chart("chart-active-users", labels, {"DAU": [r["dau"] for r in active], "WAU": [r["wau"] for r in active], "MAU": [r["mau"] for r in active]})),
        ("Top 10 recipes this week", f"Mentions in assistant replies, {data['week_start']} .. {data['end']}.",
         bar_chart("chart-top-recipes", [(r["recipe_name"], r["mentions"]) for r in data["top_recipes"][:10]])),
        ("Average conversation length", "Messages per conversation, per day.",
         line_chart("chart-conversation-length", [r["date"] for r in data["daily"]], {"avg length": [r["avg_messages_per_conversation"] for r in data["daily"]]})),
        ("Recipe categories", "Share of recipe mentions per category over the whole range.",
         pie_chart("chart-categories", [(r["recipe_category"], r["mentions"]) for r in data["categories"]])),
        ("Retention cohorts", "Users first seen on a day, and the share active again exactly 1, 7 and 30 days later (— : not yet observable).",
         cohort_table(data["retention"])),
        ("Usage by day and hour (UTC)", "Messages per ISO weekday and hour.",
         heatmap("chart-usage-heatmap", heat_cells, rows=WEEKDAYS, columns=[f"{h:02d}" for h in range(24)])),
        ("Tool adoption", "Share of conversations that used each tool.",
         bar_chart("chart-tools", [(r["tool"], round(100 * r["adoption_rate"], 1)) for r in data["tools"]], value_format="{:.1f}%")),
        ("Conversation outcomes", "Completion (the seed's heuristic: High > 5 messages, Medium > 3) and satisfaction signals.",
         bar_chart("chart-outcomes", [(f"completion {k}", v) for k, v in data["outcomes"]["completion"].items()]
                   + [(f"satisfaction {k}", v) for k, v in data["outcomes"]["satisfaction"].items()])),
    ]
    body = "".join(f"<section><h2>{_esc(title)}</h2><p class=\"note\">{_esc(note)}</p>{chart}</section>" for title, note, chart in sections)
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Recipe chatbot analytics {data['start']} .. {data['end']}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<header><h1>Recipe chatbot analytics</h1><p id=\"date-range\">{data['start']} .. {data['end']} (UTC) · generated {data['generated']}</p></header>"
        f"<main><section style=\"grid-column: 1 / -1\"><div class=\"kpis\">{kpi_html}</div></section>{body}</main>"
        f"<script>{RENDER_CHECK}</script></body></html>"
    )


def week_start(day: date) -> date:
    return date.fromordinal(day.toordinal() - day.weekday())
