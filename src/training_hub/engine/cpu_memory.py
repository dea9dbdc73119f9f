"""CPU runs give freed activations back to the OS: glibc's mmap threshold is fixed.

glibc raises its mmap threshold every time a large block is freed (up to 32 MiB),
so after the first steps every activation comes from the heap, and the heap keeps
the memory of freed tensors in holes that small tensors split: a LoRA step on CPU
held ~1.2x its live activations in such holes (measured, docs/estimate.md). With
the threshold fixed at 1 MiB, tensors of 1 MiB or more are mapped on their own and
unmapped when freed, so a process's RSS follows its live tensors, the figure
:func:`training_hub.estimate` predicts. A user's own ``MALLOC_MMAP_THRESHOLD_``
setting is left alone, and nothing happens outside glibc (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

__all__ = ["MMAP_THRESHOLD", "fix_malloc_mmap_threshold"]

logger = logging.getLogger("training_hub.engine")

#: Blocks of at least this many bytes are mapped on their own (and unmapped when freed).
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


@functools.cache
def fix_malloc_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` (once per process); True if set."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:  # the user's choice
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if done:
        logger.debug("glibc mmap threshold fixed at %d bytes", MMAP_THRESHOLD)
    return done
