"""osft on the native engine with a tiny Llama: subspace kept, sft at r=1, checkpoints, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from training_hub_osft.algorithm import DEFAULT_TARGET_PATTERNS, OSFTParams
from training_hub_osft.osft import OSFTAdapter, OSFTLinear, frozen_rank, frozen_subspace_drift

from training_hub import osft
from training_hub._errors import ParameterError, TrainingError
from training_hub.engine import train
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl
from training_hub.training_params import TrainingParams

RATIO = 0.25


@dataclass(frozen=True)
class Assets:
    model_path: Path
    data_path: Path
    cache_dir: Path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    folder = tmp_path_factory.mktemp("osft")
    model_path = folder / "model"
    tokenizer = make_tiny_tokenizer(model_path)
    make_tiny_model(model_path, tokenizer)
    return Assets(model_path, write_chat_jsonl(folder / "chat.jsonl", 48), folder / "cache")


def run_params(assets: Assets, output_dir: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "model_path": str(assets.model_path),
        "data_path": str(assets.data_path),
        "ckpt_output_dir": str(output_dir),
        "data_cache_dir": str(assets.cache_dir),
        "effective_batch_size": 8,
        "max_tokens_per_gpu": 512,
        "max_seq_len": 128,
        "learning_rate": 3e-3,
        "lr_scheduler": "constant",
        "weight_decay": 0.1,  # must not shrink the frozen part
        "max_steps": 6,
        "save_every": 3,
        "quiet": True,
        "tensorboard": False,
        "device": "cpu",
    }
    values.update(overrides)
    return values


def weights(folder: str | Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    found: dict[str, torch.Tensor] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        found.update(load_file(str(file)))
    return found


@pytest.fixture(scope="module")
def osft_run(assets: Assets, tmp_path_factory: pytest.TempPathFactory) -> Any:
    output = tmp_path_factory.mktemp("osft-run")
    return osft(unfreeze_rank_ratio=RATIO, **run_params(assets, output))


def targeted(name: str) -> bool:
    return name.endswith(".weight") and any(p in name for p in DEFAULT_TARGET_PATTERNS)


def test_frozen_subspace_is_unchanged_and_the_rest_trains(assets: Assets, osft_run: Any) -> None:
    base, trained = weights(assets.model_path), weights(osft_run.last_checkpoint)
    names = [name for name in base if targeted(name)]
    assert len(names) == 14  # 7 projections x 2 layers
    for name in names:
        w0, w1 = base[name].double(), trained[name].double()
        # Independent of the plugin: SVD of the base weight, top share frozen.
        u, s, vh = torch.linalg.svd(w0, full_matrices=False)
        k = frozen_rank(w0.shape, RATIO)
        u_h, s_h, v_h = u[:, :k], s[:k], vh[:k].T
        assert frozen_subspace_drift(w1, u_h, s_h, v_h) < 1e-5, name
        change = w1 - w0  # the trained part's change is orthogonal to both frozen bases
        assert float((u_h.T @ change).abs().max()) < 1e-5, name
        assert float((change @ v_h).abs().max()) < 1e-5, name
        assert float(change.norm() / w0.norm()) > 1e-2, name  # and it did train
    # Untargeted parameters train as in sft.
    assert not torch.equal(base["model.embed_tokens.weight"], trained["model.embed_tokens.weight"])
    assert osft_run.final_loss < 5.0


def test_optimizer_only_ever_saw_the_trainable_part_of_the_gradient(
    assets: Assets, osft_run: Any
) -> None:
    """The gradient is projected before AdamW: its first moment has no frozen component."""
    base = weights(assets.model_path)
    state = torch.load(Path(osft_run.last_checkpoint) / "training_state" / "optimizer.pt",
                       weights_only=True)["state"]
    from transformers import AutoModelForCausalLM

    names = [name for name, _ in AutoModelForCausalLM.from_pretrained(
        str(assets.model_path)).named_parameters()]
    checked = 0
    for index, name in enumerate(names):
        if not targeted(name):
            continue
        moment = state[index]["exp_avg"].double()
        u, _, vh = torch.linalg.svd(base[name].double(), full_matrices=False)
        k = frozen_rank(moment.shape, RATIO)
        scale = float(moment.norm())
        assert float((u[:, :k].T @ moment).norm()) < 1e-4 * scale, name
        assert float((moment @ vh[:k].T).norm()) < 1e-4 * scale, name
        checked += 1
    assert checked == 14


def test_checkpoint_is_a_plain_model_with_the_training_models_logits(
    assets: Assets, osft_run: Any
) -> None:
    from transformers import AutoModelForCausalLM

    checkpoint = Path(osft_run.last_checkpoint)
    plain = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    assert not any(isinstance(m, OSFTLinear) for m in plain.modules())
    assert set(weights(checkpoint)) == set(weights(assets.model_path))
    config = json.loads((checkpoint / "config.json").read_text())
    assert not any("osft" in key for key in config)
    saved = json.loads((checkpoint / "osft.json").read_text())
    assert saved["unfreeze_rank_ratio"] == RATIO and len(saved["frozen_rank"]) == 14

    # The training-time (decomposed) model, restored from the checkpoint as on resume.
    adapter = OSFTAdapter(RATIO, list(DEFAULT_TARGET_PATTERNS))
    training_model = AutoModelForCausalLM.from_pretrained(
        str(assets.model_path), dtype=torch.float32
    )
    adapter.prepare(training_model)
    adapter.load_checkpoint(training_model, checkpoint)
    training_model.eval()
    ids = torch.randint(5, 60, (2, 24))
    with torch.no_grad():
        expected, actual = training_model(ids).logits, plain(ids).logits
    assert float((expected - actual).abs().max()) < 1e-5


def test_ratio_one_is_plain_full_fine_tuning(assets: Assets, tmp_path: Path) -> None:
    common = run_params(assets, tmp_path / "x", max_steps=3, save_every=None)
    common.pop("ckpt_output_dir")
    # Plain full fine-tuning on the same engine (what sft's native backend runs), so the
    # test needs no other plugin distribution.
    full = train(TrainingParams(ckpt_output_dir=str(tmp_path / "sft"), **common))
    unfrozen = osft(unfreeze_rank_ratio=1.0, ckpt_output_dir=str(tmp_path / "osft"), **common)
    assert unfrozen.final_loss == pytest.approx(full.final_loss, rel=1e-5)
    a, b = weights(full.last_checkpoint), weights(unfrozen.last_checkpoint)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_resume_continues_exactly(assets: Assets, osft_run: Any, tmp_path: Path) -> None:
    output = tmp_path / "resumed"
    osft(unfreeze_rank_ratio=RATIO, **run_params(assets, output, max_steps=3))
    resumed = osft(unfreeze_rank_ratio=RATIO, **run_params(assets, output, resume="latest"))
    assert resumed.steps == 6
    a, b = weights(osft_run.last_checkpoint), weights(resumed.last_checkpoint)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5

    with pytest.raises(TrainingError, match="unfreeze_rank_ratio"):
        osft(unfreeze_rank_ratio=0.5, **run_params(assets, output, resume="latest", max_steps=9))


def test_parameters_are_checked(assets: Assets, tmp_path: Path) -> None:
    base = run_params(assets, tmp_path)
    assert OSFTParams(
        unfreeze_rank_ratio=0.3, target_patterns=None, **base
    ).target_patterns == list(DEFAULT_TARGET_PATTERNS)
    for bad in (0.0, 1.5):
        with pytest.raises(ParameterError, match="unfreeze_rank_ratio"):
            osft(unfreeze_rank_ratio=bad, **base)
    with pytest.raises(ParameterError, match="unfreeze_rank_ratio"):
        osft(**base)  # required
    with pytest.raises(ParameterError, match="target_patterns"):
        osft(unfreeze_rank_ratio=0.3, target_patterns=["attn.qkv"], **base)


def test_fsdp2_sharded_processes_match_one_process(
    assets: Assets, osft_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two CPU processes sharded with FSDP2 (the multi-GPU code path, over gloo): the
    gradient projection and the restoration work on row shards, and the result is the
    single process's, returned as the same TrainResult."""
    import socket

    from training_hub.engine import TrainResult

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TRAINING_HUB_SHARD_ON_CPU", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sharded = osft(unfreeze_rank_ratio=RATIO,
                   **run_params(assets, tmp_path / "sharded", nproc_per_node=2, master_port=port))
    assert isinstance(sharded, TrainResult)
    assert sharded.steps == osft_run.steps == 6
    assert sharded.final_loss == pytest.approx(osft_run.final_loss, rel=1e-5)
    assert [Path(c).name for c in sharded.checkpoints] == ["step-3", "step-6"]
    a, b = weights(osft_run.last_checkpoint), weights(sharded.last_checkpoint)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
