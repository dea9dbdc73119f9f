"""The native engine on a CUDA GPU: varlen flash attention, bf16 and fp32 training,
FSDP2 sharding, checkpoints and the fused loss.

Skipped on machines without a CUDA device (this project's CI has none); run them on
a GPU machine with ``nox -s gpu`` or ``pytest -m gpu``. Results of the last GPU run
are recorded in docs/gpu.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from training_hub.engine import train
from training_hub.engine.attention import (
    packed_attention_kwargs,
    packed_sdpa_attention,
    varlen_flash_available,
)
from training_hub.engine.batch import PackedBatch

from ._engine_helpers import (
    TinyAssets,
    build_assets,
    checkpoint_weights,
    free_port,
    max_weight_difference,
    tiny_params,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    # head_dim 16 (flash kernels need a multiple of 8), grouped-query attention 4/2.
    return build_assets(tmp_path_factory.mktemp("tiny-gpu"), samples=64, hidden_size=64)


def _losses(result: object) -> list[float]:
    import json

    path = Path(result.metrics_path)  # type: ignore[attr-defined]
    return [json.loads(line)["loss"] for line in path.read_text().splitlines() if '"loss"' in line]


def _packed_qkv(
    dtype: torch.dtype, total: int, kv_heads: int, tokens_major: bool
) -> tuple[torch.Tensor, ...]:
    """``[1, heads, T, 64]`` tensors laid out heads-major, or tokens-major as in the model."""
    torch.manual_seed(0)
    tensors = []
    for heads in (8, kv_heads, kv_heads):
        if tokens_major:
            tensor = torch.randn(1, total, heads, 64, device="cuda").transpose(1, 2)
        else:
            tensor = torch.randn(1, heads, total, 64, device="cuda")
        tensors.append(tensor.to(dtype).requires_grad_())
    return tuple(tensors)


@pytest.mark.parametrize("kv_heads", [8, 2], ids=["mha", "gqa"])
@pytest.mark.parametrize("tokens_major", [True, False], ids=["tokens-major", "heads-major"])
def test_varlen_flash_attention_matches_per_sample_attention(
    kv_heads: int, tokens_major: bool
) -> None:
    """bf16 packed attention runs as one varlen flash call and equals the fp32 per-sample loop."""
    assert varlen_flash_available(), "this torch has no torch.nn.attention.varlen"
    bounds = [0, 37, 300, 301, 1024]
    cu_seqlens = torch.tensor(bounds, device="cuda", dtype=torch.int32)
    kwargs = {"cu_seq_lens_q": cu_seqlens, "cu_seq_lens_k": cu_seqlens,
              "max_length_q": 723, "max_length_k": 723}
    results = {}
    for dtype in (torch.bfloat16, torch.float32):
        query, key, value = _packed_qkv(dtype, bounds[-1], kv_heads, tokens_major)
        output, _ = packed_sdpa_attention(
            torch.nn.Module(), query, key, value, None, scaling=0.125,
            packed_seq_bounds=tuple(bounds), **kwargs,
        )
        assert output.shape == (1, bounds[-1], 8, 64)
        torch.manual_seed(1)
        output.float().mul(torch.randn(output.shape, device="cuda")).sum().backward()
        results[dtype] = {"output": output.detach().float(), "dq": query.grad.float(),
                          "dk": key.grad.float(), "dv": value.grad.float()}
    errors = {}
    for name, exact in results[torch.float32].items():
        difference = float((results[torch.bfloat16][name] - exact).abs().max())
        errors[name] = difference / float(exact.abs().max())
    assert all(error < 2e-2 for error in errors.values()), errors


def test_model_under_autocast_takes_the_varlen_path(
    assets: TinyAssets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a real model under bf16 autocast (query/key arrive in fp32 after rotary) every
    layer runs one varlen call, and loss and gradients equal the per-sample loop's."""
    import training_hub.engine.attention as attention
    from training_hub.engine.loss import loss_targets

    calls = []
    original = attention._varlen_flash_attention

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(attention, "_varlen_flash_attention", counting)
    host = _packed_batch()
    batch = host.to(torch.device("cuda"))
    positions, targets = loss_targets(host)
    results = []
    for varlen in (True, False):
        lm = _tiny_lm(assets).cuda()
        kwargs = packed_attention_kwargs(host, batch)
        if not varlen:  # bounds only: the per-sample loop
            kwargs = {"packed_seq_bounds": kwargs["packed_seq_bounds"]}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = lm(batch.input_ids, batch.position_ids, positions.cuda(), targets.cuda(),
                      **kwargs)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in lm.parameters() if p.grad is not None])
        results.append((float(loss.detach()), grads))
    assert len(calls) == 2  # one per layer, varlen run only
    (flash_loss, flash_grads), (loop_loss, loop_grads) = results
    assert flash_loss == pytest.approx(loop_loss, rel=1e-2)
    cosine = torch.nn.functional.cosine_similarity(flash_grads, loop_grads, dim=0)
    assert float(cosine) > 0.999


def test_fp32_training_on_gpu_equals_training_on_cpu(assets: TinyAssets, tmp_path: Path) -> None:
    runs = {}
    for device in ("cpu", "cuda"):
        params = tiny_params(assets, tmp_path / device, device=device, dtype="fp32", max_steps=4)
        runs[device] = train(params)
    cpu_losses, gpu_losses = _losses(runs["cpu"]), _losses(runs["cuda"])
    assert gpu_losses == pytest.approx(cpu_losses, rel=1e-4)
    difference = max_weight_difference(
        checkpoint_weights(runs["cpu"].last_checkpoint),
        checkpoint_weights(runs["cuda"].last_checkpoint),
    )
    assert difference < 1e-4


def test_bf16_training_learns_and_saves_fp32_checkpoints(
    assets: TinyAssets, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    params = tiny_params(assets, tmp_path / "bf16", device="cuda", dtype="bf16",
                         max_steps=30, learning_rate=3e-3)
    result = train(params)
    losses = _losses(result)
    assert losses[0] > 4.0 and sum(losses[-5:]) / 5 < 0.6 * losses[0], losses
    weights = checkpoint_weights(result.last_checkpoint)
    assert all(tensor.dtype == torch.float32 for tensor in weights.values())
    assert max_weight_difference(weights, checkpoint_weights(assets.model_path)) > 1e-3
    reloaded = AutoModelForCausalLM.from_pretrained(result.last_checkpoint)
    logits = reloaded(torch.tensor([[3, 4, 5]])).logits
    assert torch.isfinite(logits).all()


def test_resume_on_gpu_continues_the_run(assets: TinyAssets, tmp_path: Path) -> None:
    """Stop after step 3, resume to 6: the same weights as 6 steps at once (fp32 kernels)."""
    common = {"device": "cuda", "dtype": "fp32", "save_every": 3}
    straight = train(tiny_params(assets, tmp_path / "straight", max_steps=6, **common))
    train(tiny_params(assets, tmp_path / "split", max_steps=3, **common))
    resumed = train(tiny_params(assets, tmp_path / "split", max_steps=6, resume="latest",
                                **common))
    difference = max_weight_difference(
        checkpoint_weights(straight.last_checkpoint), checkpoint_weights(resumed.last_checkpoint)
    )
    assert difference < 1e-5
    assert _losses(resumed)[-3:] == pytest.approx(_losses(straight)[-3:], rel=1e-5)


def _tiny_lm(assets: TinyAssets) -> torch.nn.Module:
    from training_hub.engine.loss import PackedCausalLM
    from training_hub.engine.model import load_model

    params = tiny_params(assets, assets.model_path.parent / "unused", device="cuda")
    return PackedCausalLM(load_model(params, torch.device("cuda")))


def _packed_batch() -> PackedBatch:
    """Three samples in one row; the second half of each carries the loss."""
    torch.manual_seed(0)
    lengths = [40, 70, 18]
    ids = torch.randint(5, 60, (sum(lengths),))
    labels = torch.randint(5, 60, (sum(lengths),))
    positions = torch.cat([torch.arange(n) for n in lengths])
    labels[positions < torch.cat([torch.full((n,), n // 2) for n in lengths])] = -100
    return PackedBatch(
        input_ids=ids.unsqueeze(0), labels=labels.unsqueeze(0),
        position_ids=positions.unsqueeze(0),
        cu_seqlens=torch.tensor([0, 40, 110, 128], dtype=torch.int32),
        max_seqlen=max(lengths), num_samples=3, num_loss_tokens=int((labels != -100).sum()),
    )


def test_fsdp2_sharded_model_matches_the_plain_model(assets: TinyAssets) -> None:
    """The recipe's FSDP2 wrapping (one rank): same loss and gradients as the unsharded model."""
    import torch.distributed as dist

    from training_hub.engine.distributed import shard_model
    from training_hub.engine.loss import loss_targets

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(free_port())
    dist.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda", 0))
    try:
        host = _packed_batch()
        batch = host.to(torch.device("cuda"))
        positions, targets = loss_targets(host)
        results = []
        for sharded in (False, True):
            lm = _tiny_lm(assets)
            if sharded:
                layers = list(lm.causal_lm.get_decoder().layers)
                shard_model(lm, layers, torch.float32)
            else:
                lm.to("cuda")
            loss = lm(batch.input_ids, batch.position_ids, positions.cuda(), targets.cuda(),
                      **packed_attention_kwargs(host, batch))
            loss.backward()
            grads = {}
            for name, parameter in lm.named_parameters():
                grad = parameter.grad
                grads[name] = (grad.full_tensor() if hasattr(grad, "full_tensor") else grad).cpu()
            results.append((float(loss.detach()), grads))
        (plain_loss, plain_grads), (sharded_loss, sharded_grads) = results
        assert sharded_loss == pytest.approx(plain_loss, rel=1e-5)
        assert plain_grads.keys() == sharded_grads.keys()
        for name, grad in plain_grads.items():
            assert torch.allclose(sharded_grads[name], grad, atol=1e-5, rtol=1e-4), name
    finally:
        dist.destroy_process_group()


def test_fused_liger_loss_equals_the_chunked_loss(assets: TinyAssets) -> None:
    pytest.importorskip("liger_kernel", reason="liger-kernel is not installed")
    from training_hub.engine.loss import PackedCausalLM, loss_targets

    host = _packed_batch()
    batch = host.to(torch.device("cuda"))
    positions, targets = loss_targets(host)
    losses = []
    for use_liger in (False, True):
        base = _tiny_lm(assets).causal_lm
        lm = PackedCausalLM(base, chunk_size=32, use_liger=use_liger).cuda()
        assert (lm.liger_loss is not None) == use_liger
        losses.append(float(lm(batch.input_ids, batch.position_ids, positions.cuda(),
                               targets.cuda(), **packed_attention_kwargs(host, batch))))
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
