"""Markdown, CSV and LaTeX (booktabs) exports of the leaderboard tables, via pandas."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from unifybench_pp.builder import BUILD_KIND
from unifybench_pp.errors import UbppError
from unifybench_pp.files import atomic_write, sealed_kind
from unifybench_pp.markdown import markdown_text

from .tables import Cell, Table, format_cell


def _frame(table: Table, mark: dict[int, str] | None) -> pd.DataFrame:
    """Rows indexed (Type, Method, Size, Source), a sanity row's method ending in "(sanity)" as its tag on the page
    (tables.SANITY_NOTE); columns (group, task, metric)."""
    def text(cell: Cell) -> str | float | None:
        if mark is None:
            return cell.value if cell.status == "ok" else format_cell(cell)
        rank = cell.rank.get("all")
        return mark[rank].format(format_cell(cell)) if rank in mark else format_cell(cell)

    index = pd.MultiIndex.from_tuples([(r.type, f"{r.method} (sanity)" if r.sanity else r.method, r.size, r.source)
                                       for r in table.rows],
                                      names=["Type", "Method", "Size", "Source"])
    columns = pd.MultiIndex.from_tuples([(c.group, c.task, c.metric) for c in table.columns])
    data = [[text(r.cells[c.key]) for c in table.columns] for r in table.rows]
    return pd.DataFrame(data, index=index, columns=columns)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a CSV cell that starts with one of these as a formula (a model name from someone's run)."""


def _csv_safe(value: object) -> object:
    """Text that would start a formula gets a leading ' (OWASP's advice); numbers, negative ones too, stay numbers,
    and so does a lone "-" (a missing cell, or a size not reported): with nothing after it there is no formula."""
    if isinstance(value, str) and len(value) > 1 and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def _csv_key(key: object) -> object:
    """An index or column label made safe, part by part when it is a tuple (a MultiIndex)."""
    return tuple(_csv_safe(part) for part in key) if isinstance(key, tuple) else _csv_safe(key)


def _markdown_safe(value: object) -> object:
    return markdown_text(value) if isinstance(value, str) else value


def to_csv(table: Table) -> str:
    frame = _frame(table, None)
    frame.index = frame.index.map(_csv_key)
    return frame.map(_csv_safe).to_csv()


def to_markdown(table: Table) -> str:
    frame = _frame(table, {1: "**{}**", 2: "<u>{}</u>"})
    frame.index = frame.index.map(lambda key: tuple(_markdown_safe(k) for k in key))
    frame.columns = [" ".join(dict.fromkeys(c)) for c in frame.columns]
    # cells as given: tabulate would read a model named 1e5 as 100000 and 0.500 as 0.5
    body = frame.reset_index().to_markdown(index=False, disable_numparse=True)
    return f"**{_markdown_safe(table.title)}**\n\n{body}\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
"""What LaTeX would read as markup, or print as another glyph in its default OT1 encoding (< as ¡)."""
_LATEX_SPECIAL = re.compile("|".join(map(re.escape, LATEX_SPECIALS)))


def _latex_escape(text: str) -> str:
    """One pass, so no escape is escaped again (the braces of \\textbackslash{} were)."""
    return _LATEX_SPECIAL.sub(lambda match: LATEX_SPECIALS[match.group()], text)


def to_latex(table: Table) -> str:
    frame = _frame(table, {1: r"\textbf{{{}}}", 2: r"\underline{{{}}}"})
    frame.index = frame.index.map(lambda key: tuple(_latex_escape(str(k)) for k in key))
    frame.columns = frame.columns.map(lambda key: tuple(_latex_escape(str(k)) for k in key))
    return frame.style.to_latex(hrules=True, multicol_align="c", caption=_latex_escape(table.title),
                                column_format="llll" + "r" * len(table.columns))


class ExportError(UbppError):
    """An output file whose format cannot be told from its extension; nothing was written."""


FRAME_FORMATS = (".md", ".csv", ".tex")
"""What a table file's extension says it holds: Markdown, CSV, LaTeX (booktabs), as the leaderboard exports."""


def check_frame_out(out: Path, header: Sequence[str]) -> None:
    """ExportError, before any work is done, unless `out` can take the table: its extension names one of
    FRAME_FORMATS, it can be a file (not a folder, not under a file), it lies in no folder ubpp sealed (a benchmark
    build, a site, a bundle, an export), and it is absent or a table whose header row begins with `header` (the
    command's own earlier output, which a re-run replaces). Anything else there is someone's file."""
    if out.suffix.lower() not in FRAME_FORMATS:
        raise ExportError(f"{out}: unknown table format {out.suffix or '(no extension)'!r} (fix: end the file name "
                          f"with {', '.join(FRAME_FORMATS)})")
    if out.is_dir():
        raise ExportError(f"{out}: is a folder (fix: name a file inside it, e.g. {out / ('compare' + out.suffix)})")
    above = next(parent for parent in out.absolute().parents if parent.exists())
    if not above.is_dir():
        raise ExportError(f"{out}: cannot be written: {above} is a file, not a folder (fix: choose another --out)")
    for folder in out.resolve().parents:  # a sealed folder's next rewrite would refuse the file we added
        if (kind := sealed_kind(folder)) is not None:
            where = (f"the benchmark build {folder}" if kind == BUILD_KIND
                     else f"{folder}, a {kind or 'folder'} ubpp wrote")
            raise ExportError(f"--out {out} lies inside {where} (fix: give a path outside it)")
    if out.exists() and _header_row(out)[:len(header)] != list(header):
        raise ExportError(f"--out {out} exists and is not a table ubpp wrote; it is left as it is (fix: give a new "
                          f"path)")


def _header_row(path: Path) -> list[str]:
    """The column names in the header row of a table file as `frame_text` writes its format ([] when it holds no
    such row, or is not text): what tells a table ubpp wrote from someone's file of the same name."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return next(csv.reader(lines[:1]), [])
    if suffix == ".md":
        return [cell.strip() for cell in lines[0].strip().strip("|").split("|")] if lines else []
    rule = lines.index(r"\toprule") + 1 if r"\toprule" in lines else len(lines)  # .tex: the row after the top rule
    return [cell.strip() for cell in lines[rule].rstrip().removesuffix(r"\\").split("&")] if rule < len(lines) else []


def frame_text(frame: pd.DataFrame, suffix: str, title: str = "") -> str:
    """A plain table (one row per record, no index) as the format `suffix` names, with the same protection as the
    leaderboard's exports: no formulas in CSV, no markup in Markdown, escaped LaTeX."""
    suffix = suffix.lower()
    frame = frame.copy()
    if suffix == ".csv":
        frame.columns = frame.columns.map(_csv_key)
        return frame.map(_csv_safe).to_csv(index=False)
    if suffix == ".md":
        frame.columns = frame.columns.map(lambda key: _markdown_safe(str(key)))
        return frame.map(_markdown_safe).to_markdown(index=False, disable_numparse=True) + "\n"  # cells as given
    if suffix == ".tex":
        frame.columns = frame.columns.map(lambda key: _latex_escape(str(key)))
        frame = frame.map(lambda value: _latex_escape(value) if isinstance(value, str) else value)
        return frame.style.hide(axis="index").format(precision=4).to_latex(
            hrules=True, caption=_latex_escape(title) if title else None)
    raise ExportError(f"unknown table format {suffix!r} (fix: use one of {', '.join(FRAME_FORMATS)})")


def for_people(out: Path) -> bool:
    """Whether `out`'s format is one people read (.md, .tex: numbers with the digits the terminal shows) rather than
    one programs read (.csv: numbers at full precision)."""
    return out.suffix.lower() != ".csv"


def write_frame(frame: pd.DataFrame, out: Path, header: Sequence[str], title: str = "") -> None:
    """`frame` written to `out` in the format its extension names, atomically; `out` as `check_frame_out` allows,
    checked again (a file may have appeared there since)."""
    check_frame_out(out, header)
    atomic_write(out, frame_text(frame, out.suffix, title))


def write_exports(tables: list[Table], out: Path) -> list[Path]:
    written = []
    for table in tables:
        for suffix, render in ((".md", to_markdown), (".csv", to_csv), (".tex", to_latex)):
            path = out / f"{table.key}{suffix}"
            path.write_text(render(table), encoding="utf-8")
            written.append(path)
    return written
