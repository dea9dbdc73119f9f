"""Parameter validation, CLI flag parsing and config files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training_hub._config_file import read_config_file
from training_hub._errors import ConfigError, ParameterError
from training_hub._params import validate_params
from training_hub.cli._flags import parse_param_flags
from training_hub.training_params import TrainingParams

REQUIRED = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "out"}


def test_unknown_parameter_names_closest() -> None:
    with pytest.raises(ParameterError, match="unknown parameter 'learning_rat'.*'learning_rate'"):
        validate_params(TrainingParams, {**REQUIRED, "learning_rat": 1e-4})


def test_wrong_type_names_parameter_type_and_value() -> None:
    with pytest.raises(ParameterError) as info:
        validate_params(TrainingParams, {**REQUIRED, "num_epochs": "many"})
    assert "parameter 'num_epochs' expects int, got 'many'" in str(info.value)


def test_missing_required_and_cross_field_check() -> None:
    with pytest.raises(ParameterError, match="missing required parameter 'data_path'"):
        validate_params(TrainingParams, {"model_path": "m", "ckpt_output_dir": "o"})
    with pytest.raises(ParameterError, match="max_seq_len .* larger than max_tokens_per_gpu"):
        validate_params(TrainingParams, {**REQUIRED, "max_seq_len": 100, "max_tokens_per_gpu": 50})


def test_flags_from_schema() -> None:
    values = parse_param_flags(TrainingParams, [
        "--learning-rate", "1e-4", "--max_steps=3", "--gradient-checkpointing",
        "--no-save-final-checkpoint", "--max-grad-norm", "none", "--resume", "none",
    ])
    params = validate_params(TrainingParams, {**REQUIRED, **values})
    assert params.learning_rate == 1e-4 and params.max_steps == 3
    assert params.gradient_checkpointing is True and params.save_final_checkpoint is False
    assert params.max_grad_norm is None and params.resume == "none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--learning-rat", "1"], "Did you mean '--learning-rate'"),
        (["--num-epochs"], "needs a value"),
        (["stray"], "Unexpected argument"),
        (["--num-epochs", "1", "--num-epochs", "2"], "given twice"),
    ],
)
def test_bad_flags(args: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        parse_param_flags(TrainingParams, args)


def test_config_file_yaml_and_json(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("algorithm: sft\nbackend: native\nlearning_rate: 0.001\nnum_epochs: 2\n")
    parsed = read_config_file(path)
    assert (parsed.algorithm, parsed.backend) == ("sft", "native")
    assert parsed.params == {"learning_rate": 0.001, "num_epochs": 2}
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,,}')
    with pytest.raises(ConfigError, match=r"bad.json, line 1, column 9: invalid JSON"):
        read_config_file(bad)


def test_config_file_never_runs_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        read_config_file(path)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_config_text_gives_config_error_or_mapping(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            parsed = read_config_file(path)
        except ConfigError as exc:
            assert "fuzz.yaml" in str(exc)
            return
        assert isinstance(parsed.params, dict)
        try:
            validate_params(TrainingParams, parsed.params)
        except ParameterError:
            pass


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["--learning-rate", "--num-epochs", "--seed", "x", "1", "--",
                                 "--no-quiet", "--quiet", "none", "--max-steps", "-1"]),
                max_size=6))
def test_fuzzed_flags_give_parameter_errors(args: list[str]) -> None:
    try:
        values = parse_param_flags(TrainingParams, args)
        validate_params(TrainingParams, {**REQUIRED, **values})
    except ParameterError:
        pass


def test_field_with_default_changes_only_the_default() -> None:
    from pydantic import ValidationError

    from training_hub._paramdocs import params_markdown
    from training_hub.training_params import TrainingParams

    class FastParams(TrainingParams):
        learning_rate: float = TrainingParams.field_with_default("learning_rate", 3e-4)

    parent, child = TrainingParams.model_fields["learning_rate"], FastParams.model_fields[
        "learning_rate"]
    assert child.default == 3e-4 and parent.default == 2e-5
    assert child.description == parent.description and child.metadata == parent.metadata
    values = {"model_path": "m", "data_path": "d", "ckpt_output_dir": "o"}
    assert FastParams(**values).learning_rate == 3e-4
    with pytest.raises(ValidationError):
        FastParams(**values, learning_rate=0)  # the parent's gt=0 still holds
    table = params_markdown(FastParams, inherited=TrainingParams)
    assert "`learning_rate`" in table and "`3e-04`" not in table and "`0.0003`" in table
    assert "`max_steps`" not in table  # unchanged inherited fields stay summarised
