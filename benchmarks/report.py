"""Write docs/benchmarks.md from the result files in benchmarks/results/ (no figure typed by hand).

The optional hand-written ``benchmarks/findings.md`` (what the committed run
means, what the profile shows) is appended as its own section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, RESULTS_DIR, ROOT
from plots import draw_all, images

__all__ = ["DOC_PATH", "render", "write_report"]

DOC_PATH = ROOT / "docs" / "benchmarks.md"
FINDINGS = BENCH_DIR / "findings.md"
ORDER = ("startup", "discovery", "cpu_sft", "gpu_sft", "gpu_osft", "osft_cost", "data_pipeline",
         "lora_cpu", "embedding_cpu", "grpo_cpu", "profile")

_INTRO = """\
# Benchmarks

Every figure below was produced by the scripts in `benchmarks/` and copied here by
`benchmarks/report.py`; none is typed by hand. Each section names the command that
reproduces it. Run the whole suite with `python benchmarks/run_all.py` (or
`nox -s bench`), one benchmark with `--only NAME`, a shorter version with `--quick`.

How to read the numbers:

- Targets are **ratios against a reference measured in the same run**, because
  absolute times on a shared machine drift. Start-up commands run as fresh
  processes, interleaved round-robin, and each time is the **minimum** over the
  repeats; training runs alternate between the systems and the best repeat counts.
- The machine is a shared 2-core virtual machine (the load average of each section
  is printed with it): absolute times drift between runs, ratios are the meaningful
  figures, and even they move by a few percent from one run to the next.
- Comparison systems are installed by the scripts themselves (Red Hat's
  training-hub 0.11.2 into its own venv under `benchmarks/.venvs/`, CPU torch pinned
  by `constraints.txt`); a row that cannot be measured says why.
- "result": PASS / FAIL against the target; "-" for figures that are reported only.
"""


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    digits = {"s": 3, "ms": 1, "%": 1, "x": 1, "MiB": 0, "tokens/s": 0, "samples/s": 0,
              "GFLOP/s": 0}.get(unit, 3)
    return f"{value:,.{digits}f}" + (f" {unit}" if unit else "")


def _result(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "-"}[passed]


def _ref_unit(row: dict[str, Any]) -> str:
    unit = row.get("reference_unit")
    return str(row["unit"] if unit is None else unit)


def _environment_line(env: dict[str, Any], gpu: str | None = None) -> str:
    load = env.get("load_average_1_5_15m")
    device = f"{gpu} with host CPU " if gpu else ""
    return (
        f"Device: {device}{env['cpu']} ({env['cpu_count']} cores) · Python {env['python']} · "
        f"torch {env['torch']} · transformers {env['transformers']} · trl {env['trl']} · "
        f"training-hub {env['training_hub']} · {env['date']}"
        + (f" · load average at the end (1/5/15 min): {load}" if load else "")
    )


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def _section(result: dict[str, Any]) -> list[str]:
    lines = [f"## {result['title']}", ""]
    lines += ["| figure | measured | reference | reference value | ratio | target | result |",
              "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        ratio = _ratio(row["ratio"])
        measured = _fmt(row["value"], row["unit"])
        if row["note"]:
            measured += f" ({row['note']})"
        lines.append(
            f"| {row['metric']} | {measured} | {row['reference'] or '-'} | "
            f"{_fmt(row['reference_value'], _ref_unit(row))} | {ratio} | {row['target'] or '-'} | "
            f"{_result(row['passed'])} |"
        )
    lines.append("")
    lines += [f"- {note}" for note in result["notes"]]
    if result["notes"]:
        lines.append("")
    mode = " (quick mode)" if result.get("quick") else ""
    gpu = result.get("details", {}).get("device")
    lines += [_environment_line(result["environment"], gpu) + mode, "",
              f"Reproduce: `{result['command']}`", ""]
    # The figures of the section (benchmarks/plots.py), drawn by write_report.
    lines += [f"![{caption}]({file})\n" for file, caption in images(result)]
    if result["name"] == "profile":
        lines += _profile_table(result)
    return lines


def _profile_table(result: dict[str, Any]) -> list[str]:
    lines = ["Operators with the most self CPU time in the profiled window:", "",
             "| operator | self CPU ms | calls | share |", "|---|---|---|---|"]
    for op in result["details"]["top_ops"]:
        lines.append(f"| `{op['op']}` | {op['self_cpu_ms']:.0f} | {op['calls']} | "
                     f"{op['share'] * 100:.1f}% |")
    return [*lines, ""]


def _summary(results: list[dict[str, Any]]) -> list[str]:
    lines = ["## Summary", "", "| benchmark | figure | measured | ratio | target | result |",
             "|---|---|---|---|---|---|"]
    for result in results:
        for row in result["rows"]:
            if not row["target"] or row["target"] == "reported":
                continue
            ratio = _ratio(row["ratio"])
            lines.append(f"| {result['title']} | {row['metric']} | "
                         f"{_fmt(row['value'], row['unit'])} | {ratio} | {row['target']} | "
                         f"{_result(row['passed'])} |")
    return [*lines, ""]


def render() -> str:
    """The Markdown of docs/benchmarks.md from the result files present."""
    present = {path.stem: path for path in RESULTS_DIR.glob("*.json")}
    # Results of benchmarks not in ORDER (a new script) come last, not silently left out.
    names = [n for n in ORDER if n in present] + sorted(set(present) - set(ORDER))
    results = [json.loads(present[name].read_text()) for name in names]
    lines = [_INTRO, *_summary(results)]
    for result in results:
        lines += _section(result)
    if FINDINGS.is_file():
        lines += [FINDINGS.read_text().strip(), ""]
    return "\n".join(lines)


def write_report(path: Path = DOC_PATH) -> Path:
    """Write :func:`render` to ``path`` (docs/benchmarks.md) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_all()
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(write_report())
