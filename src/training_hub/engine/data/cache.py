"""On-disk cache of tokenized datasets, keyed by data bytes, tokenizer identity and options.

One entry is a folder of ``.npy`` arrays plus ``meta.json``. Each file is written
to a temporary name and moved into place with :func:`os.replace`; ``meta.json``
comes last, so an entry without it is incomplete and ignored. Several processes
may write the same entry at once: they write identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CACHE_FORMAT_VERSION",
    "cache_key",
    "default_cache_dir",
    "file_sha256",
    "load_entry",
    "save_entry",
    "tokenizer_fingerprint",
]

#: Bump when the tokenization changes, so that old entries are not reused.
CACHE_FORMAT_VERSION = 1
_META = "meta.json"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/training-hub/data``, by default ``~/.cache/training-hub/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "training-hub" / "data"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of everything about a tokenizer that changes the tokens it produces."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    details = {
        "chat_template": getattr(tokenizer, "chat_template", None),
        "special_tokens": {
            name: str(getattr(tokenizer, name, None))
            for name in ("bos_token", "eos_token", "pad_token", "unk_token")
        },
        "added": sorted(
            (tid, str(tok), bool(getattr(tok, "special", False)))
            for tid, tok in getattr(tokenizer, "added_tokens_decoder", {}).items()
        ),
    }
    digest.update(json.dumps(details, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def cache_key(data_sha256: str, tokenizer_id: str, options: Mapping[str, Any]) -> str:
    payload = json.dumps(
        {
            "version": CACHE_FORMAT_VERSION,
            "data": data_sha256,
            "tokenizer": tokenizer_id,
            "options": dict(options),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_entry(folder: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``arrays`` (name -> array) and ``meta`` into ``folder`` atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _META).unlink(missing_ok=True)  # the entry is incomplete until meta is back
    for name, array in arrays.items():
        _atomic_write(folder / f"{name}.npy", lambda h, a=array: np.save(h, a))
    _atomic_write(folder / _META, lambda h: h.write(json.dumps(dict(meta), indent=1).encode()))


def load_entry(
    folder: Path, names: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Arrays (memory-mapped) and meta of a complete entry; None when absent or unreadable."""
    meta_file = folder / _META
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in names}
    except (OSError, ValueError):
        return None
    return arrays, meta
