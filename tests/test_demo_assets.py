"""The embedded demo assets: tokenizer, chat template, dataset, model config and cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import training_hub.demo as demo
from training_hub.demo import _build_assets
from training_hub.training_params import TrainingParams

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tokenizer() -> object:
    return transformers.AutoTokenizer.from_pretrained(demo.demo_dir())


@pytest.fixture(scope="module")
def samples() -> list[dict[str, list[dict[str, str]]]]:
    lines = demo.demo_data_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    fake_home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(fake_home))
        yield fake_home


@pytest.fixture(scope="module")
def model_dir(home: Path) -> Path:
    return demo.materialize_demo_model()


def test_assets_are_small_and_present() -> None:
    sizes = {p.name: p.stat().st_size for p in demo.demo_dir().iterdir() if p.is_file()}
    assert sizes["tokenizer.json"] <= 300_000
    assert sizes["chat.jsonl"] <= 600_000
    assert not any(name.endswith((".safetensors", ".bin")) for name in sizes)


def test_tokenizer_round_trips_text(tokenizer: object) -> None:
    assert 3500 <= len(tokenizer) <= 4096
    for text in [
        "The capital of France is Paris.",
        "  two spaces\nand a newline",
        "123 + 456 = 579.",
        "naïve café ✓ 日本",
    ]:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text


def test_chat_template_renders_chatml(tokenizer: object) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "2 + 3 = 5."},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
        "<|im_start|>assistant\n2 + 3 = 5.<|im_end|>\n"
    )
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_end_of_turn_is_one_special_token(tokenizer: object) -> None:
    for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1, token
        assert token in tokenizer.all_special_tokens
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|endoftext|>"
    # "<|im_end|>" inside text ending a turn is the eos id, not pieces of it.
    ids = tokenizer.encode("done.<|im_end|>\n", add_special_tokens=False)
    assert tokenizer.eos_token_id in ids


def test_dataset_roles_alternate(samples: list[dict[str, list[dict[str, str]]]]) -> None:
    assert 300 <= len(samples) <= 1500
    with_system = 0
    for number, sample in enumerate(samples, start=1):
        roles = [m["role"] for m in sample["messages"]]
        if roles[0] == "system":
            with_system += 1
            roles = roles[1:]
        assert len(roles) >= 2 and len(roles) % 2 == 0, f"line {number}: {roles}"
        assert roles == ["user", "assistant"] * (len(roles) // 2), f"line {number}: {roles}"
        assert all(isinstance(m["content"], str) and m["content"] for m in sample["messages"])
    assert 0.1 < with_system / len(samples) < 0.6
    multi_turn = sum(len(s["messages"]) >= 5 for s in samples)
    assert multi_turn > len(samples) // 4


def test_token_stats_match_the_data(
    tokenizer: object, samples: list[dict[str, list[dict[str, str]]]]
) -> None:
    rendered = [tokenizer.apply_chat_template(s["messages"], tokenize=False) for s in samples]
    lengths = [len(tokenizer.encode(text, add_special_tokens=False)) for text in rendered]
    assert demo.demo_stats() == {
        "num_samples": len(lengths),
        "total_tokens": sum(lengths),
        "min_tokens": min(lengths),
        "max_tokens": max(lengths),
        "mean_tokens": round(sum(lengths) / len(lengths)),
    }
    assert min(lengths) >= 20 and max(lengths) <= 512


def test_dataset_generation_is_deterministic_and_committed() -> None:
    first = _build_assets.serialize_samples(_build_assets.generate_chat_samples())
    second = _build_assets.serialize_samples(_build_assets.generate_chat_samples())
    assert first == second
    assert first == demo.demo_data_path().read_bytes()
    other_seed = _build_assets.serialize_samples(_build_assets.generate_chat_samples(seed=7))
    assert other_seed != first


def test_config_matches_tokenizer(tokenizer: object) -> None:
    config = json.loads((demo.demo_dir() / "config.json").read_text())
    assert config["vocab_size"] == len(tokenizer)
    assert config["eos_token_id"] == tokenizer.eos_token_id
    assert config["pad_token_id"] == tokenizer.pad_token_id
    assert config["tie_word_embeddings"] is True and config["use_cache"] is False


def test_materialize_builds_a_loadable_model(model_dir: Path, home: Path) -> None:
    assert model_dir.parent == home / ".cache" / "training-hub"
    assert model_dir.name.startswith("demo-model-")
    assert not [p.name for p in model_dir.parent.iterdir() if p.name.startswith(".")]

    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    assert 5_000_000 < sum(p.numel() for p in model.parameters()) < 10_000_000
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True
    )
    ids = torch.tensor([tok.encode(prompt, add_special_tokens=False)])
    out = model.generate(
        ids, max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id
    )
    assert out.shape == (1, ids.shape[1] + 4)


def test_materialize_is_idempotent(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    before = weights.stat()
    assert demo.materialize_demo_model() == model_dir
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_materialize_seed_gives_same_weights(tmp_path: Path, model_dir: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    again = demo.materialize_demo_model(tmp_path / "again")
    reference = safetensors.load_file(model_dir / "model.safetensors")
    rebuilt = safetensors.load_file(again / "model.safetensors")
    assert reference.keys() == rebuilt.keys()
    assert all(torch.equal(reference[k], rebuilt[k]) for k in reference)
    assert demo.materialize_demo_model(seed=1).name != model_dir.name


def test_demo_params_are_valid_training_params(tmp_path: Path) -> None:
    params = demo.demo_params(str(tmp_path / "run"), model_path=str(tmp_path / "model"))
    validated = TrainingParams(**params)
    stats = demo.demo_stats()
    assert validated.max_seq_len >= stats["max_tokens"]
    assert validated.num_threads == 2
    assert validated.max_steps is not None
    tokens = validated.max_steps * validated.effective_batch_size * stats["mean_tokens"]
    seconds = tokens / demo.DEMO_TOKENS_PER_SECOND
    assert 50 <= seconds <= 70
    epochs_needed = validated.max_steps * validated.effective_batch_size / stats["num_samples"]
    assert validated.num_epochs >= epochs_needed


def test_import_does_not_load_torch() -> None:
    package_root = Path(demo.__file__).resolve().parents[2]
    code = (
        "import sys, training_hub.demo as d; d.demo_dir(); d.demo_stats(); "
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(package_root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"


def test_generate_sample_answers_with_plain_text(model_dir: Path, tmp_path: Path) -> None:
    prompt, answer = demo.generate_sample(model_dir, max_new_tokens=6)
    assert prompt == demo.DEMO_PROMPT
    assert isinstance(answer, str) and "<|" not in answer

    # A checkpoint without tokenizer files falls back to the demo tokenizer.
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    for name in ("config.json", "model.safetensors"):
        (weights_only / name).write_bytes((model_dir / name).read_bytes())
    assert demo.generate_sample(weights_only, max_new_tokens=6) == (prompt, answer)
