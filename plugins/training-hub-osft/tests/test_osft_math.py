"""The OSFT linear algebra on random matrices: ranks, projections, exact restoration."""

from __future__ import annotations

import pytest
import torch
from training_hub_osft.osft import (
    decompose,
    decompose_with_free_basis,
    frozen_rank,
    frozen_subspace_drift,
    project_gradient,
    project_rows_,
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


@pytest.mark.parametrize("shape", [(40, 24), (24, 40), (32, 32)])
def test_projection_with_the_free_basis_equals_the_two_sided_projection(
    shape: tuple[int, int],
) -> None:
    """The engine projects with the smaller side's free basis; the result is the same."""
    torch.manual_seed(4)
    u, _, v, free, free_on_rows = decompose_with_free_basis(torch.randn(shape), rank=12)
    assert free_on_rows == (shape[0] <= shape[1])
    assert free.shape == (shape[0] if free_on_rows else shape[1], min(shape) - 12)
    grad = torch.randn(shape)
    projected = grad.clone()
    project_rows_(projected, u, v, free, free_on_rows)
    assert torch.allclose(projected, project_gradient(grad, u, v), atol=1e-5)


@pytest.mark.parametrize("shape", [(40, 24), (24, 40), (32, 32)])
def test_restoration_keeps_the_allowed_change_and_removes_the_leak(shape: tuple[int, int]) -> None:
    torch.manual_seed(1)
    weight = torch.randn(shape)
    u, s, v, free, free_on_rows = decompose_with_free_basis(weight, rank=12)
    allowed = project_gradient(torch.randn(shape), u, v)  # a change outside the frozen part
    leaked = weight + 0.1 * allowed + 0.05 * torch.randn(shape)  # plus an arbitrary leak
    assert frozen_subspace_drift(leaked, u, s, v) > 1e-3
    restored = leaked.clone()
    restore_frozen_subspace_(restored, u, s, v, free, free_on_rows)
    assert frozen_subspace_drift(restored, u, s, v) < 1e-5
    # Exactly W_high + P(W - W_high): the allowed part of the change is kept.
    expected = weight + project_gradient(leaked - weight, u, v)
    assert torch.allclose(restored, expected, atol=1e-5)


def test_repeated_restoration_does_not_drift() -> None:
    """Restoring after each of many small updates keeps the frozen part exact."""
    torch.manual_seed(5)
    weight = torch.randn(64, 48)
    u, s, v, free, free_on_rows = decompose_with_free_basis(weight, rank=36)
    for _ in range(500):
        weight += 1e-3 * torch.randn_like(weight)
        restore_frozen_subspace_(weight, u, s, v, free, free_on_rows)
    assert frozen_subspace_drift(weight, u, s, v) < 1e-5


# The row-shard (FSDP2) forms of both projections run in test_osft_training.py on two
# processes sharded over gloo, against a single process.
