"""The result of a GEPA run: best candidate, Pareto front, per-example validation scores.

:class:`GEPARunResult` is returned by ``gepa`` and written to ``output_dir`` as
``result.json`` (with ``best_candidate.json`` and, when the gepa library made
one, ``gepa_result.json``, which ``gepa.GEPAResult.from_dict`` reloads). The
files are rewritten after every validation evaluation with ``complete: false``,
and a last time with ``complete: true``, so a run that fails or is killed keeps
what it had found.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["GEPARunResult", "summarize", "write_result"]


@dataclass
class GEPARunResult:
    """What a GEPA run found. ``candidates[i]['val_scores']`` follows ``val_ids``.

    ``pareto_front`` has one entry per validation example: its best score and
    the candidates reaching it; ``pareto_front_candidates`` are those best on at
    least one example. Attributes of the gepa library's ``GEPAResult``
    (``val_aggregate_scores``, ``per_val_instance_best_candidates``...) are
    readable here too, as with training_hub 0.11.2.
    """

    best_candidate: dict[str, str]
    best_index: int
    best_score: float
    seed_score: float
    val_ids: list[Any]
    candidates: list[dict[str, Any]]
    pareto_front: list[dict[str, Any]]
    pareto_front_candidates: list[int]
    total_metric_calls: int
    complete: bool
    output_dir: str | None = None
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._gepa_result: Any = None

    @property
    def gepa_result(self) -> Any:
        """The gepa library's ``GEPAResult`` (None when the run stopped before it was made)."""
        return self._gepa_result

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: the peer returned GEPAResult itself.
        if name.startswith("_"):
            raise AttributeError(name)
        gepa_result = self.__dict__.get("_gepa_result")
        if gepa_result is not None and hasattr(gepa_result, name):
            return getattr(gepa_result, name)
        raise AttributeError(f"GEPARunResult has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _score(value: Any) -> float:
    return float(value)


def summarize(
    candidates: list[dict[str, str]],
    parents: list[list[int | None]],
    val_subscores: list[dict[Any, float]],
    *,
    total_metric_calls: int,
    discovered_at: list[int] | None,
    valset: list[Any],
    complete: bool,
    output_dir: str | None,
    error: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> GEPARunResult:
    """A :class:`GEPARunResult` from the candidates and their validation scores per example."""
    val_ids = sorted({vid for scores in val_subscores for vid in scores}, key=_sort_key)
    averages = [sum(s.values()) / len(s) if s else 0.0 for s in val_subscores]
    best = max(range(len(averages)), key=lambda i: averages[i])
    records = []
    for index, candidate in enumerate(candidates):
        scores = val_subscores[index]
        records.append({
            "index": index,
            "candidate": dict(candidate),
            "parents": [p for p in parents[index] if p is not None] if index < len(parents)
            else [],
            "val_score": averages[index],
            "val_scores": [scores.get(vid) for vid in val_ids],
            "discovered_at_metric_call": discovered_at[index]
            if discovered_at and index < len(discovered_at) else None,
        })
    front = []
    on_front: set[int] = set()
    for vid in val_ids:
        reached = {i: s[vid] for i, s in enumerate(val_subscores) if vid in s}
        top = max(reached.values())
        winners = sorted(i for i, value in reached.items() if value == top)
        on_front.update(winners)
        entry: dict[str, Any] = {"val_id": vid, "best_score": _score(top), "candidates": winners}
        example = valset[vid] if isinstance(vid, int) and 0 <= vid < len(valset) else None
        if isinstance(example, dict) and "input" in example:
            entry["input"] = example["input"]
        front.append(entry)
    return GEPARunResult(
        best_candidate=dict(candidates[best]),
        best_index=best,
        best_score=averages[best],
        seed_score=averages[0],
        val_ids=val_ids,
        candidates=records,
        pareto_front=front,
        pareto_front_candidates=sorted(on_front),
        total_metric_calls=total_metric_calls,
        complete=complete,
        output_dir=output_dir,
        error=error,
        history=list(history or []),
    )


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _write_json(path: Path, data: Any) -> None:
    """Write atomically: a reader (or a crash) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_result(result: GEPARunResult, output_dir: str, gepa_result: Any = None) -> Path:
    """Write result.json, best_candidate.json (and gepa_result.json) into ``output_dir``."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "best_candidate.json", result.best_candidate)
    if gepa_result is not None:
        _write_json(folder / "gepa_result.json", gepa_result.to_dict())
    path = folder / "result.json"
    _write_json(path, result.to_dict())
    return path
