"""A reward function for the distributed and resume tests that records what it scores.

It scores like :func:`training_hub_grpo.testing.reverse_reward` and appends, per
call, the prompts and completions it was given to ``$GRPO_RECORD_DIR/rank<R>.jsonl``
(``R`` is the torchrun rank, 0 outside torchrun), so that a test can compare the
completions two runs sampled. It lives in a module of its own so that the torchrun
workers of a multi-process run can import it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from training_hub_grpo.testing import reverse_reward

from training_hub import TrainingHubCallback

__all__ = ["StopAfterStep", "read_records", "recording_reward"]

RECORD_DIR_ENV = "GRPO_RECORD_DIR"


def recording_reward(prompts: list[str], completions: list[str], answer: list[str],
                     **columns: Any) -> list[float | None]:
    scores = reverse_reward(prompts, completions, answer)
    folder = Path(os.environ[RECORD_DIR_ENV])
    with (folder / f"rank{os.environ.get('RANK', '0')}.jsonl").open("a") as handle:
        handle.write(json.dumps({"prompts": prompts, "completions": completions}) + "\n")
    return scores


def read_records(folder: Path) -> list[list[tuple[str, str]]]:
    """Call by call (the calls of every rank merged): the sorted (prompt, completion) pairs
    scored in that call."""
    files = sorted(folder.glob("rank*.jsonl"))
    per_rank = [[json.loads(line) for line in f.read_text().splitlines()] for f in files]
    assert len({len(calls) for calls in per_rank}) == 1, "ranks scored different numbers of calls"
    return [sorted((prompt, completion) for call in calls
                   for prompt, completion in zip(call["prompts"], call["completions"], strict=True))
            for calls in zip(*per_rank, strict=True)]


class StopAfterStep(TrainingHubCallback):
    """Asks the run to stop at the end of the generation batch of step ``step`` (importable,
    so that it reaches the torchrun workers of a multi-process run)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, context: Any) -> None:
        if context.step == self.step:
            context.control.should_training_stop = True
