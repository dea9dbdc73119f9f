"""A third-party distribution's optimizer, scheduler, loss and data format, each chosen by
name (config file, CLI flag, `th info`) and used by a real tiny training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from training_hub._errors import ParameterError
from training_hub._params import validate_params
from training_hub.engine import train
from training_hub.testing.dists import build_wheel
from training_hub.training_params import TrainingParams

from ._engine_helpers import TinyAssets, build_assets, tiny_params

PLUGIN = '''
from training_hub import hookimpl

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_components(register):
    register("optimizers", "counting_sgd", "acme_parts.parts:counting_sgd")
    register("schedulers", "halving", "acme_parts.parts:halving")
    register("losses", "doubled_ce", "acme_parts.parts:doubled_ce")
    register("data_formats", "qa", "acme_parts.parts:QA")
'''

PARTS = '''
import torch
import torch.nn.functional as F


class CountingSGD(torch.optim.SGD):
    """Plain SGD that counts its steps in its param group (saved in optimizer.pt)."""

    def step(self, closure=None):
        for group in self.param_groups:
            group["acme_steps"] = group.get("acme_steps", 0) + 1
        return super().step(closure)


def counting_sgd(parameters, params):
    return CountingSGD(parameters, lr=params.learning_rate)


def halving(optimizer, params, total_steps):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)


def doubled_ce(hidden, targets, head):
    return 2 * F.cross_entropy(head.logits(hidden), targets, reduction="sum")


class QAFormat:
    """{"question": ..., "answer": ...}: the loss is on the answer's tokens only."""

    detect_field = "question"
    version = "1"

    def problem(self, record, *, vocab_size):
        for field in ("question", "answer"):
            if not isinstance(record.get(field), str) or not record[field]:
                return f"field '{field}' must be a non-empty string"
        return None

    def to_samples(self, records, tokenizer, *, unmask, locations):
        samples = []
        for record in records:
            question = tokenizer(record["question"], add_special_tokens=False)["input_ids"]
            answer = tokenizer(" " + record["answer"], add_special_tokens=False)["input_ids"]
            ids = question + answer + [tokenizer.eos_token_id]
            labels = ids if unmask else [-100] * len(question) + ids[len(question):]
            samples.append((ids, labels))
        return samples


QA = QAFormat()
'''

QUESTIONS = [(f"what is {a} plus {b}?", f"it is {a + b}.") for a in range(4) for b in range(2)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=8)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution built as a wheel and installed by pip into a folder of its own."""
    root = tmp_path_factory.mktemp("acme")
    wheel = build_wheel(
        root / "dist", "acme-parts", "2.0",
        entry_points={"acme-parts": "acme_parts.plugin"},
        modules={"acme_parts/__init__.py": "", "acme_parts/plugin.py": PLUGIN,
                 "acme_parts/parts.py": PARTS},
    )
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )
    return target


def _env(site: Path) -> dict[str, str]:
    src = Path(__file__).resolve().parents[2] / "src"
    path = os.pathsep.join(p for p in (str(site), str(src), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _th(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    th = Path(sys.executable).parent / "th"
    return subprocess.run([str(th), *args], capture_output=True, text=True, env=_env(site),
                          timeout=300)


def _metrics(folder: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r and "step" in r]


def _qa_settings(assets: TinyAssets, tmp_path: Path, output: Path, steps: int) -> TrainingParams:
    """A run on the QA records (one step: all of them), plain SGD-friendly settings."""
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n"
                            for q, a in QUESTIONS))
    return tiny_params(assets, output, data_path=str(data), max_steps=steps,
                       effective_batch_size=len(QUESTIONS), learning_rate=0.1,
                       max_grad_norm=None, save_every=1, checkpoint_at_epoch=False)


def _answer_tokens(tokenizer: Any) -> int:
    """Tokens of every answer and its EOS: what the qa format trains on."""
    return sum(len(tokenizer(" " + a, add_special_tokens=False)["input_ids"]) + 1
               for _, a in QUESTIONS)


def test_th_info_lists_the_plugin_components_and_validation_names_them(site: Path) -> None:
    info = _th(site, "info", "sft")
    assert info.returncode == 0, info.stderr
    lines = {line.split()[0]: line for line in info.stdout.splitlines() if line.startswith("--")}
    assert "Installed: adamw, counting_sgd." in lines["--optimizer"]
    assert "constant, linear, cosine, halving" in lines["--lr-scheduler"]
    assert "cross_entropy, doubled_ce" in lines["--loss"]
    assert ", qa" in lines["--data-format"]
    # Without the plugin on the path the name is refused, listing what is installed.
    with pytest.raises(ParameterError, match=r"optimizer='counting_sgd' is not installed; the "
                       r"installed optimizers are 'adamw'"):
        validate_params(TrainingParams, {"model_path": "m", "data_path": "d",
                                         "ckpt_output_dir": "o", "optimizer": "counting_sgd"})


def test_each_plugin_component_is_selected_by_name_and_used_in_a_run(
    site: Path, assets: TinyAssets, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    output = tmp_path / "plugin-run"
    settings = _qa_settings(assets, tmp_path, output, steps=3)
    config = {k: v for k, v in settings.to_dict().items() if k not in ("lr_scheduler", "loss")}
    config.update(algorithm="sft", optimizer="counting_sgd", data_format="auto")
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run = _th(site, "train", "--config", str(config_path), "--lr-scheduler", "halving",
              "--loss", "doubled_ce")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = _metrics(output)

    # The scheduler: the logged lr halves every step.
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.05, 0.025])
    # The data format ('auto' found it by its field): only the answers carry loss.
    tokenizer = AutoTokenizer.from_pretrained(assets.model_path)
    assert rows[0]["num_loss_tokens"] == _answer_tokens(tokenizer)
    # The optimizer: plain SGD (no Adam moments) that stepped once per optimizer step.
    saved = torch.load(output / "checkpoints" / "step-3" / "training_state" / "optimizer.pt",
                       weights_only=True)
    group = saved["param_groups"][0]
    assert group["acme_steps"] == 3 and "momentum" in group and "betas" not in group
    assert not any("exp_avg" in state for state in saved["state"].values())

    # The loss: twice the built-in cross-entropy on the same tokens (step 1: same weights).
    tokenized = tmp_path / "tokenized.jsonl"
    with tokenized.open("w") as out:
        for q, a in QUESTIONS:
            question = tokenizer(q, add_special_tokens=False)["input_ids"]
            ids = question + tokenizer(" " + a, add_special_tokens=False)["input_ids"]
            ids.append(tokenizer.eos_token_id)
            out.write(json.dumps({"input_ids": ids,
                                  "labels": [-100] * len(question) + ids[len(question):]}) + "\n")
    reference = train(tiny_params(assets, tmp_path / "reference", data_path=str(tokenized),
                                  max_steps=1, effective_batch_size=len(QUESTIONS)))
    reference_loss = _metrics(Path(reference.output_dir))[0]["loss"]
    assert rows[0]["loss"] == pytest.approx(2 * reference_loss, rel=1e-5)


def test_the_python_api_selects_each_plugin_component_by_name(
    site: Path, assets: TinyAssets, tmp_path: Path
) -> None:
    """training_hub.sft(optimizer=..., lr_scheduler=..., loss=..., data_format=...), the
    data format by its name (not detected), in a process that has the plugin installed."""
    from transformers import AutoTokenizer

    output = tmp_path / "api-run"
    values = {**_qa_settings(assets, tmp_path, output, steps=2).to_dict(),
              "optimizer": "counting_sgd", "lr_scheduler": "halving", "loss": "doubled_ce",
              "data_format": "qa"}
    script = "import json, sys\nfrom training_hub import sft\nsft(**json.loads(sys.argv[1]))\n"
    run = subprocess.run([sys.executable, "-c", script, json.dumps(values)], capture_output=True,
                         text=True, env=_env(site), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = _metrics(output)
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.05])  # halving
    tokenizer = AutoTokenizer.from_pretrained(assets.model_path)
    assert rows[0]["num_loss_tokens"] == _answer_tokens(tokenizer)  # qa: the answers only
    saved = torch.load(output / "checkpoints" / "step-2" / "training_state" / "optimizer.pt",
                       weights_only=True)
    assert saved["param_groups"][0]["acme_steps"] == 2  # counting_sgd
