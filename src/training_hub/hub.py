"""Models and data sets from the Hugging Face Hub, and checkpoints pushed to it.

``model_path``, ``tokenizer_path`` and ``data_path`` take a local path or a Hub id:

- A path that exists is used as it is. A folder written by ``datasets``'
  ``save_to_disk`` (or any folder ``datasets.load_dataset`` reads, such as a
  downloaded data set repository) is a data set: ``data_split`` picks its split.
- Anything else shaped like a Hub id (``name`` or ``org/name``; a data path
  with a data-file ending such as ``train.jsonl`` is always a local file) is
  fetched by ``huggingface_hub.snapshot_download`` at ``revision`` (models) or
  ``data_revision`` (data sets), into its cache, with its rules: ``HF_TOKEN``
  or a saved login for private and gated repositories, ``HF_HUB_OFFLINE=1`` to
  use the cache only, ``HF_HUB_CACHE``/``HF_HOME`` for where the cache lies,
  ``HF_ENDPOINT`` for another Hub.
- A data set (from the Hub or from a folder) is read by ``datasets`` with
  ``data_subset`` (its config name) and ``data_split`` (default ``train``), and
  its rows are written once to a Parquet file in the data cache
  (``<data_cache_dir>/hub/``), named after the data set's exact version, so that
  the training pipeline reads it like any other data file (and reports rows of
  it in its messages). An unchanged data set is not read again.

Every failure is one :class:`~training_hub.ConfigError` (models) or
:class:`~training_hub.DataError` (data) that says what to do: an unknown id, a
revision that does not exist, a gated repository without a token, offline with
nothing cached. :func:`push_folder` uploads a checkpoint (``th push``).
huggingface_hub and datasets are imported only when a Hub id or a data set
folder is met.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ._errors import ConfigError, DataError, UserError

__all__ = [
    "DATA_FILE_SUFFIXES",
    "default_hub_data_dir",
    "is_dataset_folder",
    "is_hub_id",
    "push_folder",
    "resolve_dataset",
    "resolve_inputs",
    "resolve_model",
]

#: A data path with one of these endings is a local file, never a Hub id.
DATA_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".txt", ".arrow")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
#: What a model folder needs; other files of a repository (other formats) are skipped.
_MODEL_FILES = [
    "*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja", "*.py",
    "tokenizer*",
]
_TORCH_WEIGHTS = ["pytorch_model*.bin"]


def is_hub_id(value: str, *, data: bool = False) -> bool:
    """Whether ``value`` (not an existing path) is looked up on the Hub."""
    if os.path.exists(value) or not _HUB_ID.match(value) or ".." in value:
        return False
    return not (data and value.lower().endswith(DATA_FILE_SUFFIXES))


def is_dataset_folder(path: str | Path) -> bool:
    """A folder written by ``save_to_disk`` (a Dataset or a DatasetDict)."""
    folder = Path(path)
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def _require_huggingface_hub(what: str) -> None:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{what} needs the huggingface_hub package: pip install 'training-hub-core[hub]'"
        ) from None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_error(
    exc: Exception, repo_id: str, *, kind: str, revision: str | None, param: str,
    error: type[UserError],
) -> UserError:
    """One clear message for an exception of huggingface_hub (or of the network)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f" at revision '{revision}'" if revision else ""
    page = f"{constants.ENDPOINT}/{'datasets/' if kind == 'dataset' else ''}{repo_id}"
    if isinstance(exc, GatedRepoError):  # a subclass of RepositoryNotFoundError: first
        token = "your token (HF_TOKEN) has no access to it" if _has_token() else "no token is set"
        return error(
            f"{param} '{repo_id}' is a gated {kind} on the Hugging Face Hub and {token}. "
            f"Accept its terms on {page}, then set HF_TOKEN to a token of that account "
            "(or run `hf auth login`)."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return error(
            f"{param} '{repo_id}' is neither a local path nor a {kind} on the Hugging Face Hub "
            f"({constants.ENDPOINT}). Check the path or the id; for a private repository set "
            "HF_TOKEN (or run `hf auth login`)."
        )
    if isinstance(exc, RevisionNotFoundError):
        name = "revision" if kind == "model" else "data_revision"
        return error(
            f"{param} '{repo_id}' has no revision '{revision}' ({name}) on the Hugging Face "
            f"Hub. Use a branch, tag or commit hash listed on {page}."
        )
    if isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        cache = constants.HF_HUB_CACHE
        why = ("the Hub is switched off (HF_HUB_OFFLINE=1)" if _offline()
               else "the Hugging Face Hub cannot be reached")
        return error(
            f"{param} '{repo_id}'{at} is not a local path, {why}, and the {kind} is not in "
            f"the Hub cache ({cache}). Download it once with network access (`hf download "
            f"{repo_id}{' --repo-type dataset' if kind == 'dataset' else ''}`), point "
            f"HF_HUB_CACHE at a cache that holds it, or give a local path."
        )
    if isinstance(exc, HfHubHTTPError):
        return error(f"{param} '{repo_id}'{at}: the Hugging Face Hub answered: {exc}")
    return error(f"{param} '{repo_id}'{at}: cannot fetch it from the Hugging Face Hub: {exc}")


def _has_token() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None


def _snapshot(
    repo_id: str, *, kind: str, revision: str | None, local_files_only: bool, param: str,
    error: type[UserError], allow_patterns: list[str] | None = None,
) -> Path:
    _require_huggingface_hub(f"{param} '{repo_id}' (a Hub id)")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, repo_type=kind, revision=revision, allow_patterns=allow_patterns,
            local_files_only=local_files_only,
        )
    except Exception as exc:
        from huggingface_hub.errors import HFValidationError

        if isinstance(exc, HFValidationError):
            raise error(
                f"{param} '{repo_id}' is neither a local path nor a valid Hub id: {exc}"
            ) from None
        raise _hub_error(exc, repo_id, kind=kind, revision=revision, param=param,
                         error=error) from exc
    return Path(folder)


def resolve_model(
    value: str, *, revision: str | None = None, local_files_only: bool = False,
    param: str = "model_path",
) -> str:
    """A local model (or tokenizer) folder for ``value``: the path itself, or the snapshot
    of Hub id ``value`` at ``revision`` in the Hub cache (downloaded when missing)."""
    if not is_hub_id(value):
        return value
    folder = _snapshot(value, kind="model", revision=revision, local_files_only=local_files_only,
                       param=param, error=ConfigError, allow_patterns=_MODEL_FILES)
    weights = any(folder.glob("*.safetensors"))
    if param == "model_path" and not weights:  # an older repository: torch weights only
        folder = _snapshot(value, kind="model", revision=revision,
                           local_files_only=local_files_only, param=param, error=ConfigError,
                           allow_patterns=_MODEL_FILES + _TORCH_WEIGHTS)
    return str(folder)


def default_hub_data_dir(data_cache_dir: str | None) -> Path:
    """Where data sets are written as Parquet: ``<data_cache_dir or the data cache>/hub``."""
    if data_cache_dir is not None:
        return Path(data_cache_dir) / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "training-hub" / "data" / "hub"


def resolve_dataset(
    value: str, *, revision: str | None = None, subset: str | None = None,
    split: str | None = None, cache_dir: str | None = None, local_files_only: bool = False,
    param: str = "data_path",
) -> str:
    """A local data file for ``value``: the file itself, or the rows of a data set (a Hub id
    at ``revision``, a ``save_to_disk`` folder or a data set folder) written as Parquet."""
    if os.path.isfile(value):
        return value
    if os.path.isdir(value):
        folder = Path(value)
        if is_dataset_folder(folder):
            version = _saved_fingerprint(folder)
        else:
            version = _folder_fingerprint(folder)
        name = f"{folder.resolve()}"
    elif is_hub_id(value, data=True):
        folder = _snapshot(value, kind="dataset", revision=revision,
                           local_files_only=local_files_only, param=param, error=DataError)
        version, name = folder.name, value  # the snapshot folder is named after the commit
    else:
        return value  # a missing local file: the data pipeline says so
    key = json.dumps([name, version, subset, split or "train"])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = re.sub(r"[^\w.-]+", "_", name.strip("/"))[-60:]
    target = default_hub_data_dir(cache_dir) / f"{slug}-{split or 'train'}-{digest}.parquet"
    if target.is_file():
        return str(target)
    if local_files_only:
        raise DataError(f"{param} '{value}': {target} was not written (by rank 0?).")
    rows = _load_rows(folder, subset=subset, split=split, value=value, param=param)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    rows.to_parquet(str(temporary))
    os.replace(temporary, target)
    return str(target)


def _saved_fingerprint(folder: Path) -> str:
    """The fingerprints datasets wrote into a save_to_disk folder (they change with the data)."""
    parts = []
    for state in sorted(folder.rglob("state.json")):
        try:
            parts.append(str(json.loads(state.read_text()).get("_fingerprint")))
        except (OSError, ValueError):
            parts.append(str(state.stat().st_mtime_ns))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _folder_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of the files of a data set folder."""
    parts = [f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
             for p in sorted(folder.rglob("*")) if p.is_file()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _load_rows(folder: Path, *, subset: str | None, split: str | None, value: str,
               param: str) -> Any:
    """The ``datasets.Dataset`` of ``split`` (default train) of the data set in ``folder``."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{param} '{value}' is a data set; reading it needs the datasets package: "
            "pip install 'training-hub-core[hub]'"
        ) from None
    wanted = split or "train"
    try:
        if is_dataset_folder(folder):
            if subset is not None:
                raise DataError(
                    f"{param} '{value}' is a save_to_disk folder, which has no subsets: "
                    f"remove data_subset='{subset}'."
                )
            loaded = datasets.load_from_disk(str(folder))
            if isinstance(loaded, datasets.DatasetDict):
                if wanted not in loaded:
                    raise DataError(
                        f"{param} '{value}' has no split '{wanted}' (data_split); it has: "
                        f"{', '.join(loaded)}."
                    )
                return loaded[wanted]
            if split is not None and split != "train":
                raise DataError(
                    f"{param} '{value}' holds a single split (a saved Dataset): remove "
                    f"data_split='{split}'."
                )
            return loaded
        return datasets.load_dataset(str(folder), name=subset, split=wanted)
    except DataError:
        raise
    except ValueError as exc:  # unknown split or config, a config needed: datasets' words
        text = str(exc)
        hint = ("data_subset" if "config" in text.lower() else "data_split")
        raise DataError(f"{param} '{value}': {text} (set {hint}).") from None
    except Exception as exc:
        raise DataError(f"{param} '{value}': datasets cannot read it: {exc}") from exc


P = TypeVar("P")


def resolve_inputs(params: P, *, local_files_only: bool = False) -> P:
    """``params`` (a schema with model_path, tokenizer_path, data_path and the Hub fields
    revision, data_revision, data_subset, data_split) with local paths in place of Hub ids
    and data sets; the same object when nothing changes. Backends call it before training.

    Hub fields that cannot apply (``revision`` with local model folders only,
    ``data_split`` with a plain data file) are errors, never ignored.
    """
    def get(name: str) -> Any:
        return getattr(params, name, None)

    updates: dict[str, Any] = {}
    model, tokenizer = get("model_path"), get("tokenizer_path")
    revision = get("revision")
    if revision is not None and not any(
        isinstance(v, str) and is_hub_id(v) for v in (model, tokenizer)
    ):
        raise ConfigError(
            f"revision='{revision}' selects a version of a Hub model, but model_path "
            f"'{model}'{f' and tokenizer_path {tokenizer!r}' if tokenizer else ''} is a local "
            "path: remove revision, or give a Hub id."
        )
    for name, value in (("model_path", model), ("tokenizer_path", tokenizer)):
        if isinstance(value, str):
            local = resolve_model(value, revision=revision, local_files_only=local_files_only,
                                  param=name)
            if local != value:
                updates[name] = local
    data = get("data_path")
    if isinstance(data, str):
        hub_fields = {k: get(k) for k in ("data_revision", "data_subset", "data_split")
                      if get(k) is not None}
        if hub_fields and os.path.isfile(data):
            given = ", ".join(f"{k}={v!r}" for k, v in hub_fields.items())
            raise DataError(
                f"{given} apply to data sets (a Hub id or a save_to_disk folder), but "
                f"data_path '{data}' is a file: remove {', '.join(hub_fields)}."
            )
        if "data_revision" in hub_fields and os.path.isdir(data):
            raise DataError(
                f"data_revision={hub_fields['data_revision']!r} selects a version of a Hub data "
                f"set, but data_path '{data}' is a local folder: remove data_revision."
            )
        local = resolve_dataset(
            data, revision=get("data_revision"), subset=get("data_subset"),
            split=get("data_split"), cache_dir=get("data_cache_dir"),
            local_files_only=local_files_only,
        )
        if local != data:
            updates["data_path"] = local
    if not updates:
        return params
    copy: P = params.model_copy(update=updates)  # type: ignore[attr-defined]
    return copy


# --- pushing a checkpoint (th push) -------------------------------------------------------


def push_folder(
    folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
    token: str | None = None, commit_message: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Upload a checkpoint folder to model repository ``repo_id`` (created when missing) and
    return the URL of the commit. The training state (optimizer, RNG) stays behind."""
    _check_model_folder(Path(folder))
    _require_huggingface_hub("Pushing a checkpoint")
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if token is None:
        raise ConfigError(
            f"Pushing to '{repo_id}' needs a Hugging Face token: set HF_TOKEN (a token with "
            "write access) or run `hf auth login`."
        )
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        if progress is not None:
            progress(f"uploading {folder} to {repo_id}" + (f" ({revision})" if revision else ""))
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), revision=revision,
            commit_message=commit_message or f"Upload {Path(folder).name} with training-hub",
            ignore_patterns=["training_state/*", "checkpoint.json", ".tmp-*"],
        )
    except Exception as exc:
        raise _push_error(exc, repo_id) from exc
    return str(getattr(commit, "commit_url", commit))


def _check_model_folder(folder: Path) -> None:
    """A ConfigError unless ``folder`` is a model folder (config.json or adapter_config.json)."""
    if (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file():
        return
    if not folder.is_dir():
        raise ConfigError(f"'{folder}' is not a folder: give a checkpoint folder to push.")
    steps = sorted((folder / "checkpoints").glob("step-*"),
                   key=lambda p: int(p.name.partition("-")[2] or 0)
                   if p.name.partition("-")[2].isdigit() else -1)
    hint = (f" It is a run folder: push one of its checkpoints, e.g. '{steps[-1]}'."
            if steps else " Give a folder of <ckpt_output_dir>/checkpoints/.")
    raise ConfigError(
        f"'{folder}' is not a checkpoint folder (no config.json or adapter_config.json).{hint}"
    )


def _push_error(exc: Exception, repo_id: str) -> UserError:
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(exc, HfHubHTTPError) and status in (401, 403):
        return ConfigError(
            f"The Hugging Face Hub refused to let this token write to '{repo_id}' (HTTP "
            f"{status}). Use a token with write access to that namespace (HF_TOKEN or "
            "`hf auth login`)."
        )
    if isinstance(exc, HfHubHTTPError):
        return ConfigError(f"Pushing to '{repo_id}' failed; the Hugging Face Hub answered: {exc}")
    return ConfigError(
        f"Pushing to '{repo_id}' failed: cannot reach the Hugging Face Hub "
        f"({constants.ENDPOINT}): {type(exc).__name__}: {exc}"
    )
