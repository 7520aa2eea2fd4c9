"""Markdown, CSV and LaTeX (booktabs) exports of the leaderboard tables, via pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unifybench_pp.markdown import markdown_text

from .tables import Cell, Table, format_cell


def _frame(table: Table, mark: dict[int, str] | None) -> pd.DataFrame:
    """Rows indexed (Type, Method, Size, Source); columns (group, task, metric)."""
    def text(cell: Cell) -> str | float | None:
        if mark is None:
            return cell.value if cell.status == "ok" else format_cell(cell)
        rank = cell.rank.get("all")
        return mark[rank].format(format_cell(cell)) if rank in mark else format_cell(cell)

    index = pd.MultiIndex.from_tuples([(r.type, r.method, r.size, r.source) for r in table.rows],
                                      names=["Type", "Method", "Size", "Source"])
    columns = pd.MultiIndex.from_tuples([(c.group, c.task, c.metric) for c in table.columns])
    data = [[text(r.cells[c.key]) for c in table.columns] for r in table.rows]
    return pd.DataFrame(data, index=index, columns=columns)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a CSV cell that starts with one of these as a formula (a model name from someone's run)."""


def _csv_safe(value: object) -> object:
    """Text that would start a formula gets a leading ' (OWASP's advice); numbers, negative ones too, stay numbers."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _markdown_safe(value: object) -> object:
    return markdown_text(value) if isinstance(value, str) else value


def to_csv(table: Table) -> str:
    frame = _frame(table, None)
    frame.index = frame.index.map(lambda key: tuple(_csv_safe(k) for k in key))
    return frame.map(_csv_safe).to_csv()


def to_markdown(table: Table) -> str:
    frame = _frame(table, {1: "**{}**", 2: "<u>{}</u>"})
    frame.index = frame.index.map(lambda key: tuple(_markdown_safe(k) for k in key))
    frame.columns = [" ".join(dict.fromkeys(c)) for c in frame.columns]
    return f"**{_markdown_safe(table.title)}**\n\n" + frame.reset_index().to_markdown(index=False) + "\n"


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                          ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                          ("^", r"\textasciicircum{}")):
        text = text.replace(char, escaped)
    return text


def to_latex(table: Table) -> str:
    frame = _frame(table, {1: r"\textbf{{{}}}", 2: r"\underline{{{}}}"})
    frame.index = frame.index.map(lambda key: tuple(_latex_escape(str(k)) for k in key))
    frame.columns = frame.columns.map(lambda key: tuple(_latex_escape(str(k)) for k in key))
    return frame.style.to_latex(hrules=True, multicol_align="c", caption=_latex_escape(table.title),
                                column_format="llll" + "r" * len(table.columns))


def write_exports(tables: list[Table], out: Path) -> list[Path]:
    written = []
    for table in tables:
        for suffix, render in ((".md", to_markdown), (".csv", to_csv), (".tex", to_latex)):
            path = out / f"{table.key}{suffix}"
            path.write_text(render(table), encoding="utf-8")
            written.append(path)
    return written
