"""GRPO on the native engine: the loss equals an independent padded TRL-style computation,
the importance ratio is 1 with one update per batch, and user errors are clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_hub_grpo.loss import group_advantages, policy_loss, sequence_weights
from training_hub_grpo.params import GRPOParams
from training_hub_grpo.scoring import RewardError, resolve_rewards, score

from training_hub._errors import DataError, ParameterError


def _independent_loss(logps, old, adv, mask, loss_type, eps, max_tokens, n_gen_tokens):
    """Padded [B, T] computation following TRL's _compute_loss (one micro-batch)."""
    coef_1 = torch.exp(logps - old)
    coef_2 = torch.clamp(coef_1, 1 - eps, 1 + eps)
    per_token = -torch.min(coef_1 * adv[:, None], coef_2 * adv[:, None])
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (per_token.size(0) * max_tokens)
    return (per_token * mask).sum() / n_gen_tokens  # dapo, one step per generation


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_policy_loss_matches_independent_computation(loss_type: str) -> None:
    torch.manual_seed(0)
    lengths = [3, 5, 2, 4]
    width = max(lengths)
    mask = torch.tensor([[1.0] * n + [0.0] * (width - n) for n in lengths])
    logps = -torch.rand(4, width) * 2
    old = logps + 0.3 * torch.randn(4, width)  # off-policy, so clipping acts
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.25])
    adv, _ = group_advantages(rewards, group_size=4, scale_rewards="group")
    expected = _independent_loss(logps, old, adv, mask, loss_type, 0.2, 8, sum(lengths))

    flat = mask.bool()
    weights = sequence_weights(lengths, loss_type, step_sequences=4, step_tokens=sum(lengths),
                               max_tokens=8, generation_tokens=sum(lengths),
                               steps_per_generation=1)
    per_token_w = torch.tensor([w for w, n in zip(weights, lengths, strict=True)
                                for _ in range(n)])
    per_token_adv = torch.tensor([a for a, n in zip(adv.tolist(), lengths, strict=True)
                                  for _ in range(n)])
    loss, stats = policy_loss(logps[flat], old[flat], per_token_adv, per_token_w,
                              epsilon_low=0.2, epsilon_high=0.2)
    assert abs(loss.item() - expected.item()) / abs(expected.item()) < 1e-5
    assert stats[1] + stats[2] > 0  # some tokens were clipped


def test_advantages_are_trl_group_normalised() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv, zero_std = group_advantages(rewards, group_size=4, scale_rewards="group")
    first = rewards[:4]
    expected = (first - first.mean()) / (first.std() + 1e-4)  # Bessel std, as TRL's nanstd
    assert torch.allclose(adv[:4], expected)
    assert torch.equal(adv[4:], torch.zeros(4)) and zero_std[4:].all()
    unscaled, _ = group_advantages(rewards, group_size=4, scale_rewards="none")
    assert torch.allclose(unscaled[:4], first - first.mean())


def test_one_update_per_batch_has_importance_ratio_one() -> None:
    logps = (-torch.rand(6)).requires_grad_()
    adv = torch.tensor([1.0, -1.0, 0.5, 0.5, -0.2, 0.1])
    loss, stats = policy_loss(logps, None, adv, torch.full((6,), 1 / 6),
                              epsilon_low=0.2, epsilon_high=0.2)
    assert stats[4].item() == 6.0  # sum of ratios: each exactly 1
    assert stats[1].item() == stats[2].item() == 0.0
    loss.backward()
    assert torch.allclose(logps.grad, -adv / 6)  # the policy gradient of -A * logp


def test_reward_errors_name_the_function_and_sample() -> None:
    def raises(prompts, completions, **columns):
        raise ValueError("boom")

    def short(prompts, completions, **columns):
        return [1.0]

    def bad_value(prompts, completions, **columns):
        return [1.0, "x"]

    for fn, text in ((raises, "raised ValueError: boom"), (short, "returned 1 values for 2"),
                     (bad_value, "returned 'x' for sample 1")):
        with pytest.raises(RewardError, match=text) as info:
            score(resolve_rewards([fn], None), ["p", "q"], ["a", "b"], {})
        assert fn.__name__ in str(info.value)


def test_builtin_rewards_resolve_through_the_registry() -> None:
    functions = resolve_rewards(["exact_match", "think_format"], [1.0, 0.5])
    table = score(functions, ["p", "p"], ["Yes", "<think>x</think><answer>y</answer>"],
                  {"answer": ["yes", "no"]})
    assert table == [[1.0, 0.0], [0.0, 1.0]]


def _base(tmp_path: Path, **extra):
    return {"model_path": str(tmp_path), "data_path": str(tmp_path / "p.jsonl"),
            "ckpt_output_dir": str(tmp_path / "out"), "reward_fn": "exact_match", **extra}


def test_schema_errors_and_aliases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a multiple of group_size"):
        GRPOParams(**_base(tmp_path, generation_batch_size=10, group_size=4))
    with pytest.raises(ValueError, match="steps_per_generation"):
        GRPOParams(**_base(tmp_path, prompt_batch_size=3, group_size=3, steps_per_generation=2))
    params = GRPOParams(**_base(tmp_path, num_generations=4, max_completion_length=16,
                                use_dr_grpo=True))
    assert (params.group_size, params.max_tokens) == (4, 16)
    assert (params.loss_type, params.scale_rewards) == ("dr_grpo", "none")
    with pytest.raises(ValueError, match="use_dr_grpo=True"):
        GRPOParams(**_base(tmp_path, use_dr_grpo=True, loss_type="dapo"))


def test_empty_and_too_long_prompt_files(tmp_path: Path) -> None:
    from training_hub_grpo.data import load_prompts

    from training_hub.testing.tiny import make_tiny_tokenizer

    tokenizer = make_tiny_tokenizer(tmp_path / "tok")
    (tmp_path / "p.jsonl").write_text("")
    with pytest.raises(DataError):
        load_prompts(GRPOParams(**_base(tmp_path)), tokenizer)
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": "the cat " * 20}) + "\n")
    with pytest.raises(DataError, match="more than max_prompt_length=8"):
        load_prompts(GRPOParams(**_base(tmp_path, max_prompt_length=8)), tokenizer)
    with pytest.raises(ParameterError, match="n_val=5"):
        load_prompts(GRPOParams(**_base(tmp_path, n_val=5)), tokenizer)
