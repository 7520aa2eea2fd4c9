"""SVG charts for the page, drawn by pygal (no hand-written SVG, no scripts, no CDN)."""

from __future__ import annotations

import pygal
from pygal.style import Style

from .tables import Row, Table

_STYLE = Style(background="white", plot_background="white", font_family="sans-serif",
               label_font_size=11, major_label_font_size=11, legend_font_size=11, title_font_size=14)


def _config(title: str) -> dict:
    # js=[] keeps pygal from linking its tooltip script from a CDN: the page must work offline.
    return {"title": title, "style": _STYLE, "js": [], "disable_xml_declaration": True,
            "legend_at_bottom": True, "truncate_legend": 40, "width": 900, "height": 420,
            "range": (0, 1), "print_values": False}


def _value(row: Row, key: str) -> float | None:
    cell = row.cells[key]
    return cell.value if cell.status == "ok" else None


def task_bars(table: Table, rows: list[Row]) -> str:
    """One bar group per Table 1 column, one bar per model."""
    chart = pygal.Bar(**_config(f"{table.title}: every column"), x_label_rotation=35)
    chart.x_labels = [f"{c.task} {c.metric}" for c in table.columns]
    for row in rows:
        chart.add(f"{row.method} ({row.source})", [_value(row, c.key) for c in table.columns])
    return chart.render(is_unicode=True)


def radar(table: Table, rows: list[Row]) -> str:
    """The columns as spokes, one polygon per model; missing cells are left out of its polygon."""
    chart = pygal.Radar(**_config(f"{table.title}: profile"), fill=False, dots_size=2)
    chart.x_labels = [f"{c.task} {c.metric}" for c in table.columns]
    for row in rows:
        chart.add(f"{row.method} ({row.source})", [_value(row, c.key) for c in table.columns])
    return chart.render(is_unicode=True)
