"""The OSFT linear algebra on random matrices: ranks, projections, exact restoration."""

from __future__ import annotations

import pytest
import torch
from training_hub_osft.osft import (
    decompose,
    frozen_rank,
    frozen_subspace_drift,
    project_gradient,
    project_gradient_rows_,
    restore_frozen_subspace_,
)


@pytest.mark.parametrize(
    ("shape", "ratio", "expected"),
    [((48, 48), 0.25, 36), ((96, 48), 0.5, 24), ((48, 96), 1.0, 0), ((10, 7), 0.01, 6)],
)
def test_frozen_rank_is_the_top_share_and_leaves_one_direction_to_train(
    shape: tuple[int, int], ratio: float, expected: int
) -> None:
    assert frozen_rank(shape, ratio) == expected


@pytest.mark.parametrize("shape", [(40, 24), (24, 40)])
def test_projected_gradient_is_orthogonal_to_the_frozen_subspace(shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    u, _, v = decompose(torch.randn(shape), rank=16)
    grad = torch.randn(shape)
    projected = project_gradient(grad, u, v)
    assert float((u.T @ projected).abs().max()) < 1e-5
    assert float((projected @ v).abs().max()) < 1e-5
    assert torch.allclose(project_gradient(projected, u, v), projected, atol=1e-5)  # idempotent
    assert float(projected.norm()) > 0.3 * float(grad.norm())  # the free part survives


@pytest.mark.parametrize("shape", [(40, 24), (24, 40)])
def test_restoration_keeps_the_allowed_change_and_removes_the_leak(shape: tuple[int, int]) -> None:
    torch.manual_seed(1)
    weight = torch.randn(shape)
    u, s, v = decompose(weight, rank=12)
    allowed = project_gradient(torch.randn(shape), u, v)  # a change outside the frozen part
    leaked = weight + 0.1 * allowed + 0.05 * torch.randn(shape)  # plus an arbitrary leak
    assert frozen_subspace_drift(leaked, u, s, v) > 1e-3
    restored = leaked.clone()
    restore_frozen_subspace_(restored, u, s, v)
    assert frozen_subspace_drift(restored, u, s, v) < 1e-5
    # Exactly W_high + P(W - W_high): the allowed part of the change is kept.
    expected = weight + project_gradient(leaked - weight, u, v)
    assert torch.allclose(restored, expected, atol=1e-5)


def test_restoration_of_row_shards_matches_the_whole_matrix() -> None:
    """The FSDP2 path restores each rank's rows after summing U_h^T W over ranks."""
    torch.manual_seed(2)
    weight = torch.randn(30, 20)
    u, s, v = decompose(weight, rank=8)
    leaked = weight + 0.05 * torch.randn(30, 20)
    whole = leaked.clone()
    restore_frozen_subspace_(whole, u, s, v)

    # Two "ranks" hold rows [0, 15) and [15, 30); emulate the all-reduce by hand.
    shards = [leaked[:15].clone(), leaked[15:].clone()]
    u_shards = [u[:15], u[15:]]
    coefficients = sum(us.T @ ws for us, ws in zip(u_shards, shards, strict=True))
    for rows, u_rows in zip(shards, u_shards, strict=True):
        partial = coefficients - u_rows.T @ rows  # the other rank's share
        _restore_with_reduced(rows, u_rows, s, v, partial)
    assert torch.allclose(torch.cat(shards), whole, atol=1e-5)


def _restore_with_reduced(
    rows: torch.Tensor, u_rows: torch.Tensor, s: torch.Tensor, v: torch.Tensor, other: torch.Tensor
) -> None:
    """restore_frozen_subspace_ with a fake group whose all-reduce adds ``other``."""
    import training_hub_osft.osft as osft_module

    original = osft_module.dist.all_reduce

    def add_other(tensor: torch.Tensor, **_: object) -> None:
        tensor += other

    osft_module.dist.all_reduce = add_other  # type: ignore[assignment]
    try:
        restore_frozen_subspace_(rows, u_rows, s, v, group=object())
    finally:
        osft_module.dist.all_reduce = original  # type: ignore[assignment]


def test_gradient_projection_of_row_shards_matches_the_whole_matrix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The FSDP2 path projects each rank's gradient rows after summing U_h^T G over ranks."""
    import training_hub_osft.osft as osft_module

    torch.manual_seed(3)
    u, _, v = decompose(torch.randn(30, 20), rank=8)
    grad = torch.randn(30, 20)
    whole = grad.clone()
    project_gradient_rows_(whole, u, v)
    assert torch.allclose(whole, project_gradient(grad, u, v), atol=1e-5)

    shards, u_shards = [grad[:15].clone(), grad[15:].clone()], [u[:15], u[15:]]
    total = sum(us.T @ gs for us, gs in zip(u_shards, shards, strict=True))
    for rows, u_rows in zip(shards, u_shards, strict=True):
        other = total - u_rows.T @ rows  # the other rank's share of U_h^T G

        def add_other(tensor: torch.Tensor, other: torch.Tensor = other, **_: object) -> None:
            tensor += other

        monkeypatch.setattr(osft_module.dist, "all_reduce", add_other)
        project_gradient_rows_(rows, u_rows, v, group=object())
    assert torch.allclose(torch.cat(shards), whole, atol=1e-5)
