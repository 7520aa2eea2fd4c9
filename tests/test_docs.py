"""The README and the docs site say nothing the code contradicts: the site builds with every link and anchor
resolved (`mkdocs build --strict`), every `ubpp` command the pages show exists with every option they pass, and
every `python -m bench.<name>` they name is a module."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_lines(page: Path) -> list[str]:
    """The commands in a page's bash blocks, continuation lines joined and comments dropped."""
    lines, block = [], False
    for raw in page.read_text().splitlines():
        if raw.startswith("```"):
            block = raw.strip() in ("```bash", "```sh", "```console") if not block else False
            continue
        if block:
            lines.append(raw)
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [line.split(" # ")[0].split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def ubpp_commands() -> list[tuple[str, list[str], list[str]]]:
    """(page, subcommand words, options) of every `ubpp ...` / `-m cli ...` command shown."""
    found = []
    for page in PAGES:
        for line in shell_lines(page):
            for match in re.finditer(r"(?:^|[\s/&;])(?:ubpp|-m cli)\s+([^&;|]*)", line):
                words = match.group(1).split()
                command = words[:2] if words[:1] == ["train"] else words[:1]
                if not command or command[0].startswith("-"):
                    continue
                options = [w.split("=")[0] for w in words if re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", w)]
                found.append((page.name, command, options))
    return found


def test_the_site_builds_with_every_link_and_anchor_resolved(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "training" / "index.html").is_file()


def test_every_command_and_option_the_pages_show_exists() -> None:
    commands = ubpp_commands()
    assert len(commands) > 40 and {"build-dataset", "evaluate", "leaderboard", "demo"} <= {c[0] for _, c, _ in commands}
    helps: dict[tuple[str, ...], str] = {}
    for page, command, options in commands:
        key = tuple(command)
        if key not in helps:
            result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
            assert result.exit_code == 0, (page, command, result.output)
            helps[key] = result.output
        for option in options:
            assert option in helps[key] or option == "--help", (page, " ".join(command), option)


def test_every_bench_module_the_pages_name_exists() -> None:
    named = {m for page in PAGES for m in re.findall(r"-m (bench\.[a-z_]+)", page.read_text())}
    assert named, "the pages name the bench modules"
    assert [m for m in sorted(named) if importlib.util.find_spec(m) is None] == []


def test_every_training_launch_the_pages_show_starts_the_processes_it_asks_for() -> None:
    """`accelerate launch --num_processes N` without --multi_gpu starts one process on a machine of fewer than 2
    GPUs (README's training command lacked it, docs/training.md's had it)."""
    launches = [(page.name, line) for page in PAGES for line in shell_lines(page)
                if re.search(r"accelerate launch .*--num_processes \S+ .*-m cli train", line)]
    assert launches and [launch for launch in launches if "--multi_gpu" not in launch[1]] == []


def test_the_tiny_preset_s_evaluate_command_samples_as_the_demo_evaluates() -> None:
    """docs/training.md's command evaluated the tiny models with the adapter's defaults (CFG 5.0, 100 tokens), not
    the CFG 2.0 and 40 tokens they are trained and the demo evaluates with."""
    from embedded_demo import TINY_SAMPLER

    commands = [line for line in shell_lines(ROOT / "docs" / "training.md")
                if line.startswith("ubpp evaluate --model syncr1 --checkpoint runs/train/syncr1 ")]
    assert len(commands) == 1
    assert dict(o.split("=") for o in re.findall(r"--option (\S+)", commands[0])) == \
        {name: str(value) for name, value in TINY_SAMPLER.items()}


def test_the_training_output_section_names_everything_a_run_writes() -> None:
    """It said `checkpoints/step-N/` for `checkpoints/step-000002/` and left out launch.json."""
    from training.outdir import RUN_ENTRIES

    text = (ROOT / "docs" / "training.md").read_text()
    section = text[text.index("\n## Output\n"):]
    section = section[:section.index("\n## ", 1)]
    assert [name for name in sorted(RUN_ENTRIES) if f"`{name}" not in section] == []
    assert re.search(r"`checkpoints/step-\d{6}/`", section) and "step-N" not in section
