"""Cross-check with peft's OSF method (``OSFConfig``) on the same tiny Llama.

Both must freeze the same top singular subspace of every targeted matrix. With
plain SGD both keep it exactly; with AdamW peft's factors drift out of it (its
gradient projection is undone by Adam's per-element scaling), which is what the
native backend's after-step restoration prevents.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from training_hub_osft.osft import OSFTAdapter, decompose, frozen_rank, frozen_subspace_drift

peft = pytest.importorskip("peft")
if not hasattr(peft, "OSFConfig"):
    pytest.skip("this peft has no OSF method", allow_module_level=True)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RATIO = 0.25


@pytest.fixture(scope="module")
def base() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return LlamaForCausalLM(config)


def train(
    model: Any,
    make_optimizer: Any,
    adapter: OSFTAdapter | None = None,
    steps: int = 15,
) -> list[float]:
    torch.manual_seed(1)
    ids = torch.randint(0, 128, (4, 32))
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad])
    losses = []
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        if adapter is not None:
            adapter.before_optimizer_step(model)
        optimizer.step()
        optimizer.zero_grad()
        if adapter is not None:
            adapter.after_optimizer_step(model)
        losses.append(float(loss))
    return losses


def peft_osf(base: Any, make_optimizer: Any) -> tuple[Any, list[float]]:
    model = peft.get_peft_model(
        copy.deepcopy(base), peft.OSFConfig(effective_rank=1 - RATIO, target_modules=TARGETS)
    )
    losses = train(model, make_optimizer)
    return model.merge_and_unload(), losses


def native_osft(base: Any, make_optimizer: Any) -> tuple[Any, list[float]]:
    model = copy.deepcopy(base)
    adapter = OSFTAdapter(RATIO, TARGETS)
    adapter.prepare(model)
    for name, parameter in model.named_parameters():  # train what peft trains: the targets
        parameter.requires_grad_(name.removesuffix(".weight") in adapter.layers)
    return model, train(model, make_optimizer, adapter)


def drifts(base: Any, trained: Any) -> dict[str, float]:
    before = dict(base.named_parameters())
    found = {}
    for name, weight in trained.named_parameters():
        if name.endswith(".weight") and any(t in name for t in TARGETS):
            w0 = before[name]
            u, s, v = decompose(w0, frozen_rank(w0.shape, RATIO))
            assert float((weight - w0).norm() / w0.norm()) > 1e-3, name  # it trained
            found[name] = frozen_subspace_drift(weight, u, s, v)
    assert len(found) == 14
    return found


def test_peft_freezes_the_same_subspace(base: Any) -> None:
    model = peft.get_peft_model(
        copy.deepcopy(base), peft.OSFConfig(effective_rank=1 - RATIO, target_modules=TARGETS)
    )
    ours = dict(base.named_modules())
    layers = [(n, m) for n, m in model.named_modules() if hasattr(m, "_osf_U_low_init")]
    assert len(layers) == 14
    for name, layer in layers:
        weight = ours[name.removeprefix("base_model.model.")].weight
        k = frozen_rank(weight.shape, RATIO)
        assert layer.effective_rank["default"] == k, name
        u, _, v = decompose(weight, k)
        # peft's trainable directions are exactly the complement of our frozen ones.
        assert float((u.T @ layer._osf_U_low_init["default"]).abs().max()) < 1e-5, name
        assert float((layer._osf_V_low_init["default"] @ v).abs().max()) < 1e-5, name


def test_with_sgd_both_keep_the_frozen_subspace(base: Any) -> None:
    def sgd(params: Any) -> Any:
        return torch.optim.SGD(params, lr=0.5)

    peft_model, peft_losses = peft_osf(base, sgd)
    native_model, native_losses = native_osft(base, sgd)
    assert peft_losses[-1] < peft_losses[0] and native_losses[-1] < native_losses[0]
    assert max(drifts(base, peft_model).values()) < 1e-5
    assert max(drifts(base, native_model).values()) < 1e-5


def test_with_adamw_only_the_native_backend_stays_exact(base: Any) -> None:
    def adamw(params: Any) -> Any:
        return torch.optim.AdamW(params, lr=1e-3)

    peft_model, peft_losses = peft_osf(base, adamw)
    native_model, native_losses = native_osft(base, adamw)
    assert peft_losses[-1] < peft_losses[0] and native_losses[-1] < native_losses[0]
    native = max(drifts(base, native_model).values())
    leaked = max(drifts(base, peft_model).values())
    assert native < 1e-5
    assert leaked > 100 * native  # peft's factors left the complement under AdamW
