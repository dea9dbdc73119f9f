"""training_hub 0.11.2's public names and parameter names are accepted here (no training).

The peer's signatures are in tests/data/peer (see its README). Every peer parameter of
every public function must be a parameter of our function or another name (alias) of
one; a missing name fails. The algorithms of plugins that are not installed are skipped.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import training_hub
from training_hub import AlgorithmRegistry, ParameterError
from training_hub._params import validate_params
from training_hub._public import ALGORITHM_FUNCTIONS, _schema_of, stub_source
from training_hub.cli import main

ROOT = Path(__file__).resolve().parents[2]
PEER = json.loads((ROOT / "tests/data/peer/training_hub-0.11.2-signatures.json").read_text())
FUNCTIONS = sorted(n for n, v in PEER.items() if v and isinstance(v[0], dict))
BASE = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "out"}


@pytest.fixture(autouse=True)
def _installed_plugins() -> None:
    AlgorithmRegistry.reset()  # the installed distributions, not a test's stand-ins


def _accepted_names(name: str) -> set[str]:
    function = getattr(training_hub, name)
    names = set(inspect.signature(function).parameters)
    spec = ALGORITHM_FUNCTIONS.get(name)
    if spec is not None:
        schema = _schema_of(spec.algorithm)
        if schema is None:
            pytest.skip(f"{spec.distribution} is not installed")
        names |= set(schema.all_aliases()) if hasattr(schema, "all_aliases") else set()
    return names


_NOT_YET: dict[str, str] = {}  # algorithm -> why it still refuses some peer names


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=_NOT_YET[n], strict=False))
    if n in _NOT_YET else n for n in FUNCTIONS
])
def test_every_peer_parameter_is_accepted(name: str) -> None:
    peer = [p["name"] for p in PEER[name] if p["kind"] != "VAR_KEYWORD"]
    missing = [p for p in peer if p not in _accepted_names(name)]
    assert not missing, f"{name}() lacks training_hub 0.11.2's parameters {missing}"


def test_callback_classes_have_the_peer_events_and_fields() -> None:
    from training_hub import TrainingHubCallback, TrainingHubContext

    for event in PEER["TrainingHubCallback"]:
        assert callable(getattr(TrainingHubCallback, event))
    context_fields = set(inspect.signature(TrainingHubContext).parameters)
    assert set(PEER["TrainingHubContext"]) <= context_fields


def test_public_names_import_lazily() -> None:
    names = ("sft osft lora lora_sft grpo lora_grpo embedding_sft gepa estimate plot_loss "
             "create_algorithm AlgorithmRegistry TrainingHubCallback TrainingHubContext "
             "binary_reward tool_call_reward").split()
    code = (
        "import sys, training_hub, inspect\n"
        "assert 'pydantic' not in sys.modules and 'torch' not in sys.modules\n"
        f"from training_hub import {', '.join(names)}\n"
        "inspect.signature(sft); help(lora_sft)\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "TORCH False" in done.stdout
    assert set(names) <= set(training_hub.__all__)


def test_signature_and_docstring_come_from_the_schema() -> None:
    from training_hub import lora_sft, sft

    schema = AlgorithmRegistry.get_algorithm("sft").params_schema
    assert schema is not None
    parameters = inspect.signature(sft).parameters
    assert list(parameters)[:4] == ["model_path", "data_path", "ckpt_output_dir", "backend"]
    assert set(schema.model_fields) | {"backend", "aliases"} == set(parameters)
    assert parameters["learning_rate"].default == schema.model_fields["learning_rate"].default
    assert parameters["learning_rate"].annotation is float
    assert parameters["model_path"].default is inspect.Parameter.empty
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY
               for n, p in parameters.items() if n != "aliases")
    assert "adam_beta1 (float, default 0.9): AdamW beta1. Also accepted as: beta1." in \
        " ".join((sft.__doc__ or "").split())
    # lora_sft is lora's peer name: the LoRA schema (learning rate default 2e-4)
    assert inspect.signature(lora_sft).parameters["learning_rate"].default == 2e-4


def test_committed_stub_is_generated_from_the_schemas() -> None:
    if any(_schema_of(s.algorithm) is None for s in ALGORITHM_FUNCTIONS.values()):
        pytest.skip("not every plugin distribution is installed")
    committed = (ROOT / "src/training_hub/_signatures.pyi").read_text()
    assert committed == stub_source(), (
        "src/training_hub/_signatures.pyi is out of date: python -m training_hub._public > "
        "src/training_hub/_signatures.pyi"
    )


def test_migration_guide_table_is_generated() -> None:
    from ._migration_table import BEGIN, END, migration_table

    page = (ROOT / "docs/migrating-from-training-hub.md").read_text()
    if any(_schema_of(s.algorithm) is None for s in ALGORITHM_FUNCTIONS.values()):
        pytest.skip("not every plugin distribution is installed")
    committed = page.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert committed == migration_table().strip(), (
        "the table of docs/migrating-from-training-hub.md is out of date: "
        "python -m tests.core._migration_table"
    )


def test_aliases_mean_their_field_and_refuse_both() -> None:
    schema = AlgorithmRegistry.get_algorithm("osft").params_schema
    assert schema is not None
    params = validate_params(schema, {
        **BASE, "unfreeze_rank_ratio": 0.25, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6,
        "unmask_messages": True, "data_output_dir": "cache", "save_steps": 5,
        "save_total_limit": 2, "eval_steps": 3, "eval_data_path": "val.jsonl",
    })
    assert (params.adam_beta1, params.adam_beta2, params.adam_eps) == (0.8, 0.99, 1e-6)
    assert params.unmask and params.data_cache_dir == "cache"
    assert (params.save_every, params.keep_last_n, params.validation_frequency) == (5, 2, 3)
    with pytest.raises(ParameterError, match="'beta1' and 'adam_beta1' are the same"):
        validate_params(schema, {**BASE, "unfreeze_rank_ratio": 0.25, "beta1": 0.8,
                                 "adam_beta1": 0.7})


@pytest.mark.parametrize(("given", "expected"), [
    ({"bf16": True}, {"dtype": "bf16"}),
    ({"fp16": True}, {"dtype": "fp16"}),
    ({"bf16": False, "fp16": False}, {"dtype": "fp32"}),
    ({"use_processed_dataset": True}, {"data_format": "tokenized"}),
    ({"dataset_type": "alpaca"}, {"data_format": "alpaca"}),
    ({"dataset_type": "chat_template"}, {"data_format": "chat"}),
    ({"micro_batch_size": 2, "gradient_accumulation_steps": 3}, {"effective_batch_size": 6}),
    ({"micro_batch_size": 2, "gradient_accumulation_steps": 2, "nproc_per_node": 2},
     {"effective_batch_size": 8}),
])
def test_peer_settings_become_native_ones(given: dict[str, Any], expected: dict[str, Any]) -> None:
    schema = AlgorithmRegistry.get_algorithm("lora").params_schema
    assert schema is not None
    params = validate_params(schema, {**BASE, **given})
    assert {k: getattr(params, k) for k in expected} == expected


@pytest.mark.parametrize(("given", "message"), [
    ({"bf16": True, "fp16": True}, "two precisions"),
    ({"bf16": True, "dtype": "fp32"}, "bf16=True contradicts dtype='fp32'"),
    ({"is_pretraining": True}, "needs block_size"),
    ({"block_size": 64}, "only with is_pretraining"),
    ({"is_pretraining": True, "block_size": 8192}, "larger than max_tokens_per_gpu"),
    ({"micro_batch_size": 2, "gradient_accumulation_steps": 3, "effective_batch_size": 8},
     "= 6 samples per step, but effective_batch_size is 8"),
    ({"gradient_accumulation_steps": 3, "effective_batch_size": 8}, "not a multiple"),
    ({"use_processed_dataset": True, "data_format": "chat"}, "contradicts"),
    ({"sample_packing": False, "micro_batch_size": 2}, "one sample in each micro-batch"),
    ({"lr_scheduler_kwargs": {"warmup_ratio": 0.1}}, "not options of the 'cosine'"),
    ({"load_in_4bit": True, "load_in_8bit": True}, "set one"),
    ({"bnb_4bit_quant_type": "fp4"}, "apply only with load_in_4bit"),
    ({"enable_model_splitting": True}, "nproc_per_node"),
    ({"finetune_vision_layers": True}, "no vision encoder"),
])
def test_contradictions_are_one_clear_error(given: dict[str, Any], message: str) -> None:
    schema = AlgorithmRegistry.get_algorithm("lora").params_schema
    assert schema is not None
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_params(schema, {**BASE, **given})


_GPU_ONLY = "NVIDIA GPUs and there is none here (or device='cpu')"
#: Every precision, quantisation and kernel knob of training_hub 0.11.2 that cannot apply
#: on a CPU: (functions that take it, the setting, what the one error must say).
CPU_REFUSALS = [
    (("sft", "osft", "lora_sft"), {"tf32": True},
     "tf32=True: TensorFloat-32 is a mode of NVIDIA GPUs (Ampere and newer) and there is "
     "none here (or device='cpu')"),
    (("sft", "osft", "lora_sft"), {"flash_attention": True},
     "flash_attention=True: FlashAttention runs on " + _GPU_ONLY),
    (("sft", "osft", "lora_sft"), {"use_liger": True},
     "use_liger=True: the Liger kernels are Triton kernels for " + _GPU_ONLY),
    (("lora_sft",), {"load_in_4bit": True},
     "load_in_4bit=True (QLoRA) cannot run here: device='cpu' was requested"),
    (("lora_sft",), {"load_in_4bit": True, "bnb_4bit_quant_type": "fp4",
                     "bnb_4bit_compute_dtype": "float16", "bnb_4bit_use_double_quant": False},
     "load_in_4bit=True (QLoRA) cannot run here: device='cpu' was requested"),
    (("lora_sft",), {"load_in_8bit": True},
     "load_in_8bit=True cannot run here: device='cpu' was requested"),
]


@pytest.mark.parametrize(("function", "given", "message"), [
    pytest.param(function, given, message, id=f"{function}-{'-'.join(given)}")
    for functions, given, message in CPU_REFUSALS for function in functions
])
def test_what_cannot_apply_on_a_cpu_is_refused_before_training(
    function: str, given: dict[str, Any], message: str, tmp_path: Path
) -> None:
    """device='cpu' asks for the CPU on any machine; without a GPU, the default device is
    the CPU as well. Either way: one error naming the parameter and why, nothing written."""
    torch = pytest.importorskip("torch")
    call = getattr(training_hub, function)
    out = tmp_path / "out"
    required = {"unfreeze_rank_ratio": 0.25} if function == "osft" else {}
    pattern = message.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ParameterError, match=pattern):
        call(model_path="m", data_path="d.jsonl", ckpt_output_dir=str(out), device="cpu",
             **required, **given)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match=pattern.split(" cannot run here")[0]):
            call(model_path="m", data_path="d.jsonl", ckpt_output_dir=str(out), **required,
                 **given)
    assert not out.exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_bf16_and_fp16_apply_on_a_cpu(precision: str, tmp_path: Path) -> None:
    """Unlike the knobs above, both precisions run on a CPU (torch's CPU autocast; fp16 with
    loss scaling): they train there in that dtype, not refused and not dropped."""
    pytest.importorskip("torch")
    from training_hub import create_algorithm, sft
    from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl

    model = tmp_path / "model"
    make_tiny_model(model, make_tiny_tokenizer(model))
    data = write_chat_jsonl(tmp_path / "chat.jsonl", 8)
    call = dict(model_path=str(model), data_path=str(data), ckpt_output_dir=str(tmp_path / "o"),
                max_steps=2, effective_batch_size=4, max_tokens_per_gpu=256, max_seq_len=128,
                learning_rate=1e-3, device="cpu", num_threads=1, quiet=True, tensorboard=False,
                save_final_checkpoint=False, checkpoint_at_epoch=False, **{precision: True})
    algorithm = create_algorithm("sft", "native")
    plan = algorithm.backend.dry_run(algorithm.validate_params(call))
    assert plan["dtype"] == precision
    result = sft(**call)
    assert result.steps == 2 and result.final_loss is not None


def test_engine_only_fields_are_refused_by_other_backends(tmp_path: Path) -> None:
    from training_hub import sft

    with pytest.raises(ParameterError, match="save_samples=100.*backend='native'"):
        sft(model_path="m", data_path="d.jsonl", ckpt_output_dir=str(tmp_path), backend="trl",
            save_samples=100)


def test_none_means_the_default_and_keywords_only(tmp_path: Path) -> None:
    from training_hub import sft

    with pytest.raises(ParameterError, match="keyword arguments only"):
        sft("m", "d.jsonl", "out")
    # num_epochs=None is the peer's "not given": the call fails as the one without it
    # (at the missing model), never on None; max_steps can be None and takes it.
    errors = []
    for extra in ({}, {"num_epochs": None, "learning_rate": None, "max_steps": None,
                       "beta1": None, "callbacks": None}):
        with pytest.raises(training_hub.UserError) as caught:
            sft(model_path=str(tmp_path / "no-model"), data_path=str(tmp_path / "d.jsonl"),
                ckpt_output_dir=str(tmp_path / "o"), device="cpu", backend="native", **extra)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "num_epochs" not in errors[1]


def test_uninstalled_algorithm_names_its_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from training_hub import _public

    spec = _public.AlgorithmFunction("nope_algo", "training-hub-nope", "Nothing.")
    monkeypatch.setitem(_public.ALGORITHM_FUNCTIONS, "nope_algo", spec)
    function = _public.algorithm_function("nope_algo")
    assert "pip install training-hub-nope" in (function.__doc__ or "")
    with pytest.raises(training_hub.AlgorithmNotFoundError, match="pip install training-hub-nope"):
        function(model_path="m")


def test_cli_flags_and_info_show_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    from training_hub.cli._flags import parse_param_flags

    schema = AlgorithmRegistry.get_algorithm("sft").params_schema
    assert schema is not None
    flags = parse_param_flags(schema, ["--beta1", "0.8", "--unmask-messages", "--eps=1e-6"])
    assert flags == {"adam_beta1": "0.8", "unmask": True, "adam_eps": "1e-6"}
    with pytest.raises(ParameterError, match="given twice"):
        parse_param_flags(schema, ["--beta1", "0.8", "--adam-beta1", "0.7"])
    assert main(["info", "sft", "--json"]) == 0
    infos = {p["name"]: p for p in json.loads(capsys.readouterr().out)["params"]}
    assert infos["adam_beta1"]["aliases"] == ["beta1"]
    assert infos["data_cache_dir"]["aliases"] == ["data_output_dir"]
    assert main(["info", "sft"]) == 0
    assert "--adam-beta1 (--beta1)" in capsys.readouterr().out


def test_config_file_takes_peer_names_and_flags_override_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("algorithm: sft\nbeta1: 0.8\neps: 1.0e-6\nunmask_messages: true\n")
    code = main(["train", "--config", str(config), "--demo", "--dry-run", "--adam-beta1", "0.7",
                 "--ckpt-output-dir", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    params = json.loads(out.split("# data statistics")[0].split("\n", 1)[1])["params"]
    assert (params["adam_beta1"], params["adam_eps"], params["unmask"]) == (0.7, 1e-6, True)
