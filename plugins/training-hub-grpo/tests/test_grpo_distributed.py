"""grpo on several processes: the backend starts torchrun itself (two gloo processes on
CPU) and trains exactly like one process, because a group's completions depend only on
the seed, the batch and the prompt (not on how prompts are sharded or batched)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from _grpo_recording import RECORD_DIR_ENV, StopAfterStep, read_records, recording_reward
from safetensors.torch import load_file
from training_hub_grpo.rollout import SamplingSettings, group_generator, sample_groups
from training_hub_grpo.testing import make_reverse_task

from training_hub import ParameterError, create_algorithm


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    return make_reverse_task(tmp_path_factory.mktemp("reverse"), warmup_steps=5, prompts=16,
                             held_out=4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weights(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    weights: dict[str, torch.Tensor] = {}
    for file in sorted(Path(checkpoint).glob("*.safetensors")):
        weights.update(load_file(str(file)))
    return weights


def _train(task: dict[str, Path], out: Path, **extra):
    arguments = {
        "model_path": str(task["model"]), "data_path": str(task["train"]),
        "eval_data_path": str(task["eval"]), "ckpt_output_dir": str(out),
        "reward_fn": recording_reward, "group_size": 4, "prompt_batch_size": 4,
        "steps_per_generation": 2, "max_tokens": 6, "temperature": 1.0, "max_steps": 4,
        "learning_rate": 1e-3, "adam_eps": 1e-6, "device": "cpu", "quiet": True,
        "num_threads": 1, **extra}
    return create_algorithm("grpo").train(**arguments)


def test_a_group_samples_the_same_whatever_the_batch(task: dict[str, Path]) -> None:
    """Completions of a prompt do not change with the rollout batch size, the order of the
    prompts or which other prompts are sampled with it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(task["model"]))
    model = AutoModelForCausalLM.from_pretrained(str(task["model"]))
    words = ["a b c", "d e f g h", "h g", "b b a c d", "e f"]
    prompts = [tokenizer(f"reverse : {w} =")["input_ids"] for w in words]
    settings = SamplingSettings(max_tokens=6, temperature=1.0, top_k=8, top_p=0.95)

    def sample(indices: list[int], batch_size: int, batch: int = 0) -> dict[int, list]:
        completions = sample_groups(
            model, [prompts[i] for i in indices], group_size=3, settings=settings,
            eos_token_ids=[tokenizer.eos_token_id], pad_token_id=tokenizer.pad_token_id,
            generators=[group_generator(7, batch, i) for i in indices], batch_size=batch_size)
        return {i: [c.ids for c in completions[k * 3:(k + 1) * 3]]
                for k, i in enumerate(indices)}

    together = sample(list(range(5)), 64)
    assert sample(list(range(5)), 3) == together  # one group at a time
    assert sample([4, 2, 0, 3, 1], 6) == together  # another order, two groups at a time
    assert sample([3, 1], 64) == {i: together[i] for i in (3, 1)}  # other neighbours
    assert sample(list(range(5)), 64, batch=1) != together  # the next batch draws anew
    assert len({tuple(map(tuple, g)) for g in together.values()}) == 5


@pytest.mark.slow  # ~40 s on a loaded machine: torchrun starts two workers
def test_two_processes_train_like_one(task: dict[str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_HUB_DIST_TIMEOUT_S", "60")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    records = {}
    results = {}
    for name, extra in (("one", {}), ("two", {"nproc_per_node": 2,
                                               "master_port": _free_port()})):
        records[name] = tmp_path / f"records-{name}"
        records[name].mkdir()
        monkeypatch.setenv(RECORD_DIR_ENV, str(records[name]))
        results[name] = _train(task, tmp_path / name, **extra)
    one, two = results["one"], results["two"]
    assert one.steps == two.steps == 4
    assert one.completions == two.completions == 2 * 4 * 4  # 2 batches of 4 prompts x 4
    # the same completions, batch by batch (and the same greedy held-out completions)
    sampled_one, sampled_two = read_records(records["one"]), read_records(records["two"])
    assert len(sampled_one) == 2 + 2  # two batches, evaluation at steps 0 and 4
    assert sampled_one == sampled_two
    assert one.reward_history == pytest.approx(two.reward_history, abs=1e-9)
    assert [s for s, _ in one.eval_history] == [s for s, _ in two.eval_history] == [0, 4]
    assert [r for _, r in one.eval_history] == pytest.approx(
        [r for _, r in two.eval_history], abs=1e-9)
    a, b = _weights(one.last_checkpoint), _weights(two.last_checkpoint)
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5
    start = _weights(task["model"])
    assert max(float((a[k] - start[k]).abs().max()) for k in a) > 1e-4  # it did train
    logged = {name: [json.loads(line) for line in
                     (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
              for name in ("one", "two")}
    assert len(logged["two"]) == len(logged["one"]) == 4 + 2  # rank 0 alone logs
    for first, second in zip(logged["one"], logged["two"], strict=True):
        assert first["step"] == second["step"]
        for key in ("reward", "completions/mean_length", "eval_reward"):
            assert (key in first) == (key in second)
            if key in first:
                assert first[key] == pytest.approx(second[key], abs=1e-9)


@pytest.mark.slow  # ~2 min on a loaded machine: three torchrun launches of two workers
def test_two_processes_resume_exactly(task: dict[str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2-process run stopped at step 2 (its checkpoint) and resumed with resume='latest'
    on 2 processes samples and ends like the 2-process run never stopped."""
    monkeypatch.setenv("TRAINING_HUB_DIST_TIMEOUT_S", "60")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    def run(name: str, out: str, **extra):
        records = tmp_path / f"records-{name}"
        records.mkdir()
        monkeypatch.setenv(RECORD_DIR_ENV, str(records))
        result = _train(task, tmp_path / out, nproc_per_node=2, master_port=_free_port(),
                        save_every=2, lr_scheduler="cosine", warmup_steps=1, **extra)
        return result, read_records(records)

    straight, sampled = run("straight", "straight")
    first, sampled_first = run("first", "split", callbacks=[StopAfterStep(2)])
    assert first.steps == 2 and Path(first.last_checkpoint).name == "step-2"
    resumed, sampled_resumed = run("resumed", "split", resume="latest")
    assert straight.steps == resumed.steps == 4
    # straight scored eval@0, batches 1-2, eval@4; the first part eval@0 and batch 1, the
    # resumed run batch 2 and eval@4 (each call the completions of both ranks)
    assert len(sampled) == 4
    assert sampled_first == sampled[:2]
    assert sampled_resumed == sampled[2:]
    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert Path(resumed.last_checkpoint).name == "step-4" and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"
    start = _weights(task["model"])
    assert any(not torch.equal(a[k], start[k]) for k in a)  # it did train
    assert resumed.reward_history == straight.reward_history
    assert resumed.eval_history == straight.eval_history
    learning_rates = {
        out: [r["lr"] for r in map(json.loads, (tmp_path / out / "metrics.jsonl")
                                   .read_text().splitlines()) if "lr" in r]
        for out in ("straight", "split")}
    assert learning_rates["split"] == learning_rates["straight"] and \
        len(learning_rates["straight"]) == 4  # the schedule went on


def _notebook_reward(prompts, completions, **columns):
    return [0.0] * len(completions)


_notebook_reward.__module__ = "__main__"  # what a function defined in a notebook cell is


@pytest.mark.parametrize("reward", [lambda prompts, completions, **c: [0.0] * len(completions),
                                    _notebook_reward], ids=["lambda", "__main__"])
def test_a_reward_function_workers_cannot_import_is_refused(task: dict[str, Path],
                                                            tmp_path: Path, reward) -> None:
    with pytest.raises(ParameterError, match="cannot reach the torchrun worker processes"):
        _train(task, tmp_path / "out", reward_fn=reward, nproc_per_node=2)
    assert not (tmp_path / "out" / "checkpoints").exists()  # refused before launching


def test_iteration_callback_is_refused_with_several_processes(task: dict[str, Path],
                                                              tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="iteration_callback"):
        _train(task, tmp_path / "out", reward_fn="training_hub_grpo.testing:reverse_reward",
               nproc_per_node=2, iteration_callback=lambda step, metrics: None)
