"""Fixtures of the reliability tests: one set of tiny assets per session, torch threads kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._reliability_helpers import ReliabilityAssets, build_assets


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> ReliabilityAssets:
    return build_assets(tmp_path_factory.mktemp("reliability-assets"))


@pytest.fixture(autouse=True)
def _keep_torch_threads() -> Iterator[None]:
    """In-process runs set num_threads=1; give later tests torch's thread count back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
