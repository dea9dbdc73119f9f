"""grpo resumes exactly: a run stopped after a checkpoint and resumed with resume='latest'
samples the same completions and ends with the same weights as the run never stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _grpo_recording import RECORD_DIR_ENV, read_records
from safetensors.torch import load_file
from training_hub_grpo.testing import make_reverse_task

from training_hub import TrainingHubCallback, create_algorithm


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    return make_reverse_task(tmp_path_factory.mktemp("reverse"), warmup_steps=5, prompts=16,
                             held_out=4)


class StopAfterStep(TrainingHubCallback):
    """Asks the run to stop at the end of the generation batch of step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, context) -> None:
        if context.step == self.step:
            context.control.should_training_stop = True


def _weights(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    weights: dict[str, torch.Tensor] = {}
    for file in sorted(Path(checkpoint).glob("*.safetensors")):
        weights.update(load_file(str(file)))
    return weights


def _train(task: dict[str, Path], out: Path, records: Path, monkeypatch: pytest.MonkeyPatch,
           **extra):
    records.mkdir(exist_ok=True)
    monkeypatch.setenv(RECORD_DIR_ENV, str(records))
    return create_algorithm("grpo").train(
        model_path=str(task["model"]), data_path=str(task["train"]),
        eval_data_path=str(task["eval"]), ckpt_output_dir=str(out),
        reward_fn="_grpo_recording:recording_reward", group_size=4, prompt_batch_size=4,
        iterations_per_batch=2, max_tokens=6, temperature=1.0, top_k=10, max_steps=6,
        save_every=2, learning_rate=1e-3, lr_scheduler="cosine", warmup_steps=2,
        device="cpu", quiet=True, num_threads=1, **extra)


def test_resume_latest_is_exact(task: dict[str, Path], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 generation batches of 2 optimizer steps (iterations_per_batch=2: the importance
    # ratio and clipping are used), a cosine schedule with warmup, checkpoints every 2 steps.
    straight = _train(task, tmp_path / "straight", tmp_path / "rec-straight", monkeypatch)
    first = _train(task, tmp_path / "split", tmp_path / "rec-first", monkeypatch,
                   callbacks=[StopAfterStep(2)])
    assert first.steps == 2 and Path(first.last_checkpoint).name == "step-2"
    resumed = _train(task, tmp_path / "split", tmp_path / "rec-resumed", monkeypatch,
                     resume="latest")
    assert straight.steps == resumed.steps == 6

    # The completions sampled after the resume are those of the uninterrupted run:
    # straight scored eval@0, batches 1-3, eval@6; the resumed run batches 2-3, eval@6.
    sampled = read_records(tmp_path / "rec-straight")
    assert len(sampled) == 5
    assert read_records(tmp_path / "rec-first") == sampled[:2]
    assert read_records(tmp_path / "rec-resumed") == sampled[2:]
    assert len({tuple(call) for call in sampled[1:4]}) == 3  # each batch sampled anew

    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert Path(resumed.last_checkpoint).name == "step-6"
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"
    start = _weights(task["model"])
    assert any(not torch.equal(a[k], start[k]) for k in a)  # it did train
    assert resumed.reward_history == straight.reward_history
    assert resumed.eval_history == straight.eval_history
    logged = {name: [json.loads(line) for line in
                     (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
              for name in ("straight", "split")}
    learning_rates = {name: [r["lr"] for r in rows if "lr" in r] for name, rows in logged.items()}
    assert learning_rates["split"] == learning_rates["straight"]  # the schedule went on
    assert len(learning_rates["straight"]) == 6
