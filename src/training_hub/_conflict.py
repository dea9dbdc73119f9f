"""Detects PyPI's unrelated ``training-hub`` installed next to this core.

Our core is the distribution ``training-hub-core``; the name ``training-hub`` on
PyPI belongs to another project (versions 0.1 to 0.11.2) whose wheels also
install a package named ``training_hub``. Installed into the same environment,
the two overwrite each other's files, and uninstalling either deletes files of
the other. Nothing can make both work, so the fix is always the same: uninstall
``training-hub`` and reinstall ``training-hub-core`` (``--force-reinstall``
puts back the files the other one replaced or deleted).

:func:`warn_if_installed_here` runs on ``import training_hub`` and must stay
cheap: one ``os.listdir`` of the folder our package lies in, looking for a
``training_hub-*.dist-info`` (or ``.egg-info``) there. ``th doctor`` calls
:func:`conflicting_distributions`, which also looks at every other folder on
sys.path.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "OTHER_DISTRIBUTION", "ConflictWarning", "conflict_message", "conflicting_distributions",
    "warn_if_installed_here",
]

#: The unrelated project's distribution name on PyPI.
OTHER_DISTRIBUTION = "training-hub"
_SUFFIXES = (".dist-info", ".egg-info")
_warned = False


class ConflictWarning(UserWarning):
    """PyPI's unrelated ``training-hub`` shares the ``training_hub`` package with this core."""


def _other_in(folder: str) -> str | None:
    """The ``training_hub-*.dist-info`` (or egg-info) entry in ``folder``, if any.

    A metadata folder is keyed by the part of its name before the first '-',
    normalized as importlib.metadata does ('training_hub', 'Training.Hub'...);
    ours is ``training_hub_core-*``, a different key.
    """
    try:
        children = os.listdir(folder)
    except OSError:
        return None
    for child in children:
        low = child.lower()
        if not low.endswith(_SUFFIXES):
            continue
        key = low.partition("-")[0].replace(".", "_")
        if key == "training_hub" and "-" in low:
            return os.path.join(folder, child)
    return None


def conflict_message(where: str) -> str:
    """What is wrong and what to do, for a ``training-hub`` metadata folder ``where``."""
    name = os.path.basename(where)
    version = name.partition("-")[2].rpartition(".")[0].partition("-")[0] or "?"
    return (
        f"the unrelated distribution '{OTHER_DISTRIBUTION}' {version} is installed ({where}). "
        "It is another project's package that is also named training_hub, and it overwrites "
        "files of this one (training-hub-core). Fix: pip uninstall -y training-hub && "
        "pip install --force-reinstall --no-deps training-hub-core"
    )


def conflicting_distributions() -> list[str]:
    """Every ``training-hub`` metadata folder on sys.path (``th doctor``)."""
    found: list[str] = []
    for entry in sys.path:
        where = _other_in(entry or os.getcwd())
        if where is not None and where not in found:
            found.append(where)
    return found


def warn_if_installed_here(package_dir: str) -> None:
    """Warn once (:class:`ConflictWarning`) when ``training-hub`` is installed in the folder
    that holds our package folder ``package_dir``."""
    global _warned
    if _warned:
        return
    where = _other_in(os.path.dirname(package_dir))
    if where is None:
        return
    _warned = True
    import warnings

    warnings.warn(f"training_hub: {conflict_message(where)}", ConflictWarning, stacklevel=2)
