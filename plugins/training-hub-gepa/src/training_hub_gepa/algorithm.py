"""``GEPAAlgorithm``: prompt optimisation; its schema is :class:`GEPAParams`."""

from __future__ import annotations

from training_hub import Algorithm

from .params import GEPAParams
from .plugin import DESCRIPTION

__all__ = ["GEPAAlgorithm"]


class GEPAAlgorithm(Algorithm):
    """Evolve the text of a prompt with GEPA (reflection + Pareto selection); no weights change."""

    params_schema = GEPAParams
    default_backend = "gepa"
    description = DESCRIPTION
