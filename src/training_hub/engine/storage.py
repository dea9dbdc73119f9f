"""Remote checkpoint storage (``checkpoint_storage``): mirror checkpoints to an fsspec URI.

The layout under the URI is that of ``ckpt_output_dir``::

    <uri>/checkpoints/step-<N>/...            every file of the local checkpoint
    <uri>/checkpoints/step-<N>/checkpoint.json   the completion marker, uploaded LAST
    <uri>/checkpoints/best/...                the best checkpoint (save_best_metric), likewise

(a backend that names its checkpoints otherwise, TRL's ``checkpoint-<N>``, keeps
its own names there: ``prefix``).

A remote checkpoint counts only once its marker is there, so an upload cut off
half-way (a crash, a lost connection, the run's bounded wait running out) is
never taken for a complete one. Rank 0 uploads each complete local checkpoint in
a background thread (training goes on), retrying each file with exponential
backoff, then prunes the remote copies to ``keep_last_n`` (never ``best``: it is
replaced, its marker removed first, each time a better one is uploaded).
``resume='latest'`` downloads the newest remote checkpoint when it is newer than
every local one, and the remote ``best`` when there is none locally.

Any fsspec protocol works: ``s3://`` (s3fs), ``gs://`` (gcsfs), ``file://``,
``memory://``... fsspec is imported only when a run uses the storage.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConfigError, ParameterError, TrainingError

if TYPE_CHECKING:
    from ..training_params import TrainingParams

__all__ = [
    "CheckpointMirror",
    "MirrorReport",
    "RemoteCheckpoints",
    "check_storage_uri",
    "fetch_if_newer",
    "open_mirror",
]

logger = logging.getLogger("training_hub.engine")

# Same names as engine/checkpoint.py (which imports torch; this module must not).
_CHECKPOINTS_DIRNAME = "checkpoints"
_COMPLETE_MARKER = "checkpoint.json"
#: The best checkpoint's folder (engine/evaluation.py's BEST_DIRNAME; that module imports torch).
BEST_DIRNAME = "best"
#: A file only a checkpoint that resumes exactly has (the optimizer state), by layout.
RESUMABLE_FILE = "training_state/optimizer.pt"
#: Where rank 0 keeps hard-linked copies of the checkpoints still to upload, so that
#: keep_last_n pruning the local folder cannot pull files from under an upload.
STAGING_DIRNAME = ".storage-staging"
#: Tries per file, and the wait before the second (doubled before each further one).
UPLOAD_ATTEMPTS = 4
BACKOFF_S = 1.0

T = TypeVar("T")


def check_storage_uri(uri: str) -> str:
    """``uri`` when fsspec and the package of its protocol are installed; else a
    ValueError that says what to install (the parameter schema's validator)."""
    protocol, sep, path = uri.partition("://")
    if not sep or not protocol or not path:
        raise ValueError(
            f"checkpoint_storage={uri!r} is not a URI: write it as <protocol>://<path>, e.g. "
            "s3://bucket/prefix, gs://bucket/prefix, file:///mnt/shared/run or memory://run"
        )
    try:
        import fsspec
    except ImportError:
        raise ValueError(
            "checkpoint_storage needs fsspec: pip install 'training-hub-core[engine]'"
        ) from None
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:  # fsspec's message names the package: "Install s3fs to ..."
        raise ValueError(
            f"checkpoint_storage={uri!r}: the '{protocol}' file system is not installed: "
            f"{exc or 'its package is missing'} (pip install s3fs for s3://, gcsfs for gs://)"
        ) from None
    except ValueError:
        raise ValueError(
            f"checkpoint_storage={uri!r}: fsspec knows no protocol '{protocol}'. Use one such "
            "as s3 (package s3fs), gs (gcsfs), az (adlfs), file or memory."
        ) from None
    return uri


def _with_retries(
    action: Callable[[], T], what: str, *, attempts: int, backoff_s: float,
    abandoned: threading.Event | None = None,
) -> T:
    """``action()``, tried ``attempts`` times with exponential backoff between tries."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or (abandoned is not None and abandoned.is_set()):
                raise
            delay = backoff_s * 2 ** (attempt - 1)
            logger.info(
                "checkpoint storage: %s failed (%s: %s); try %d of %d in %.1f s",
                what, type(exc).__name__, exc, attempt + 1, attempts, delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


class _Abandoned(Exception):
    """The run stopped waiting for this upload."""


class RemoteCheckpoints:
    """The checkpoints under one storage URI: list, upload, download, remove."""

    def __init__(
        self, uri: str, *, attempts: int | None = None, backoff_s: float | None = None,
        prefix: str = "step",
    ) -> None:
        import fsspec.core

        self.uri = uri
        self.prefix = prefix  # checkpoint folders are <prefix>-<step>
        self._step_dir = re.compile(rf"^{re.escape(prefix)}-(\d+)$")
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.root = root.rstrip("/")
        self.attempts = UPLOAD_ATTEMPTS if attempts is None else attempts
        self.backoff_s = BACKOFF_S if backoff_s is None else backoff_s

    def folder(self, step: int | None) -> str:
        """The remote folder of checkpoint ``step`` (None: the best checkpoint)."""
        return f"{self.root}/{_CHECKPOINTS_DIRNAME}/{self._name(step)}"

    def where(self, step: int | None) -> str:
        """The URI of a remote checkpoint (None: the best one), for messages."""
        return f"{self.uri.rstrip('/')}/{_CHECKPOINTS_DIRNAME}/{self._name(step)}"

    def _name(self, step: int | None) -> str:
        return BEST_DIRNAME if step is None else f"{self.prefix}-{step}"

    def _retry(self, action: Callable[[], T], what: str,
               abandoned: threading.Event | None = None) -> T:
        return _with_retries(
            action, what, attempts=self.attempts, backoff_s=self.backoff_s, abandoned=abandoned
        )

    def check_writable(self) -> None:
        """Write and remove a probe file: a wrong URI or missing credentials fail at start."""
        probe = f"{self.root}/.training-hub-probe-{os.getpid()}"
        try:
            self._retry(lambda: self.fs.makedirs(self.root, exist_ok=True), "creating the root")
            self._retry(lambda: self.fs.pipe_file(probe, b"ok"), "writing a probe")
            self.fs.rm_file(probe)
        except Exception as exc:
            raise ConfigError(
                f"checkpoint_storage='{self.uri}' is not writable: {type(exc).__name__}: {exc}. "
                "Check the URI, the credentials (e.g. AWS_* variables for s3) and the bucket's "
                "permissions."
            ) from exc

    def complete_steps(self) -> list[int]:
        """Steps of the complete remote checkpoints (their marker is there), oldest first."""
        pattern = f"{self.root}/{_CHECKPOINTS_DIRNAME}/{self.prefix}-*/{_COMPLETE_MARKER}"
        try:
            found = self._retry(lambda: self.fs.glob(pattern), "listing checkpoints")
        except FileNotFoundError:
            return []
        steps = []
        for path in found:
            match = self._step_dir.match(str(path).rstrip("/").split("/")[-2])
            if match:
                steps.append(int(match.group(1)))
        return sorted(steps)

    def has_complete_best(self) -> bool:
        """Whether the storage holds a complete best checkpoint (its marker is there)."""
        marker = f"{self.folder(None)}/{_COMPLETE_MARKER}"
        return bool(self._retry(lambda: self.fs.exists(marker), "looking for the best"))

    def upload(
        self, local: Path, step: int | None, abandoned: threading.Event | None = None
    ) -> None:
        """Copy checkpoint folder ``local`` to ``<prefix>-<step>`` (None: to ``best``):
        every file, the marker last.

        A remote marker of an earlier upload of the same step is removed first, so a
        replaced checkpoint is incomplete until its new marker is written; the best
        checkpoint is removed whole first (the new best may hold other files).
        """
        target = self.folder(step)
        marker = f"{target}/{_COMPLETE_MARKER}"
        if step is None:
            self.remove(None)
        elif self.fs.exists(marker):
            self._retry(lambda: self.fs.rm_file(marker), f"removing the old marker of {target}")
        local_marker = local / _COMPLETE_MARKER
        files = sorted(p for p in local.rglob("*") if p.is_file() and p != local_marker)
        folders = {target} | {
            f"{target}/{p.parent.relative_to(local).as_posix()}" for p in files
            if p.parent != local
        }
        for remote_folder in sorted(folders):
            self._retry(lambda f=remote_folder: self.fs.makedirs(f, exist_ok=True),
                        f"creating {remote_folder}")
        for path in files:
            if abandoned is not None and abandoned.is_set():
                raise _Abandoned(target)
            remote = f"{target}/{path.relative_to(local).as_posix()}"
            self._retry(lambda p=path, r=remote: self.fs.put_file(str(p), r),
                        f"uploading {remote}", abandoned)
        if abandoned is not None and abandoned.is_set():
            raise _Abandoned(target)
        self._retry(lambda: self.fs.put_file(str(local_marker), marker),
                    f"uploading the marker {marker}", abandoned)

    def download(self, step: int | None, output_dir: Path) -> Path:
        """Fetch ``<prefix>-<step>`` (None: ``best``) into ``<output_dir>/checkpoints/``
        atomically (a temporary sibling renamed into place once every file and the
        marker are in)."""
        source = self.folder(step)
        root = output_dir / _CHECKPOINTS_DIRNAME
        final = root / self._name(step)
        temp = root / f".tmp-download-{self._name(step)}-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        try:
            keys = sorted(self._retry(lambda: self.fs.find(source), f"listing {source}"))
            marker = f"{source}/{_COMPLETE_MARKER}"
            ordered = [k for k in keys if k.rstrip("/") != marker] + [marker]  # marker last
            for key in ordered:
                relative = key[len(source) + 1:]
                if not relative or ".." in relative.split("/"):
                    continue
                destination = temp / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                self._retry(lambda k=key, d=destination: self.fs.get_file(k, str(d)),
                            f"downloading {key}")
            if final.exists():
                shutil.rmtree(final)
            os.rename(temp, final)
        except Exception as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise TrainingError(
                f"Could not download checkpoint {self.where(step)} to resume from it: "
                f"{type(exc).__name__}: {exc}. Check the storage and retry, or resume from a "
                "local checkpoint (resume=<path>)."
            ) from exc
        return final

    def remove(self, step: int | None) -> None:
        """Delete ``<prefix>-<step>`` (None: ``best``): its marker first, so a half-deleted
        one is incomplete."""
        target = self.folder(step)
        marker = f"{target}/{_COMPLETE_MARKER}"
        if self.fs.exists(marker):
            self._retry(lambda: self.fs.rm_file(marker), f"removing {marker}")
        if self.fs.exists(target):
            self._retry(lambda: self.fs.rm(target, recursive=True), f"removing {target}")

    def prune(self, keep_last_n: int | None) -> list[int]:
        """Remove all but the newest ``keep_last_n`` complete checkpoints; returns their steps."""
        if keep_last_n is None:
            return []
        removed = self.complete_steps()[:-keep_last_n]
        for step in removed:
            self.remove(step)
        return removed


@dataclass
class MirrorReport:
    """What the mirror did by the end of the run (the steps of the checkpoints)."""

    uploaded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # step -> error
    not_uploaded: list[int] = field(default_factory=list)  # still queued or in flight at the end
    skipped: list[int] = field(default_factory=list)  # superseded before upload (keep_last_n)
    #: The same for the best checkpoint (``checkpoints/best``), by the step it is of.
    best_uploaded: list[int] = field(default_factory=list)
    best_failed: dict[int, str] = field(default_factory=dict)
    best_not_uploaded: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.failed or self.not_uploaded or self.best_failed
                    or self.best_not_uploaded)


@dataclass
class _Upload:
    """One queued upload: checkpoint ``step`` (``best``: the best checkpoint, of that step)."""

    step: int
    staged: Path
    best: bool = False


class CheckpointMirror:
    """Rank 0's background uploader: :meth:`submit` each complete checkpoint, :meth:`close`
    at the end of the run (waits, bounded, and reports what is not uploaded).

    Checkpoints upload oldest first. One that ``keep_last_n`` newer ones queued behind
    it would prune anyway is skipped; a best checkpoint replaces a queued older best.
    A checkpoint whose upload fails after every retry is reported and training goes
    on: the local copy is intact.
    """

    def __init__(
        self,
        uri: str,
        output_dir: str | Path,
        *,
        keep_last_n: int | None = None,
        attempts: int | None = None,
        backoff_s: float | None = None,
        prefix: str = "step",
    ) -> None:
        self.remote = RemoteCheckpoints(uri, attempts=attempts, backoff_s=backoff_s,
                                        prefix=prefix)
        self.keep_last_n = keep_last_n
        self.staging = Path(output_dir) / STAGING_DIRNAME
        self.report = MirrorReport()
        self._queue: list[_Upload] = []
        self._busy: _Upload | None = None
        self._changed = threading.Condition()
        self._abandoned = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> CheckpointMirror:
        """Check the storage is writable (a ConfigError otherwise); the upload thread
        starts with the first :meth:`submit`."""
        self.remote.check_writable()
        shutil.rmtree(self.staging, ignore_errors=True)
        return self

    def submit(self, checkpoint: str | Path, step: int) -> None:
        """Queue a complete local checkpoint folder; returns at once."""
        self._enqueue(_Upload(step, self.staging / f"{self.remote.prefix}-{step}"), checkpoint)

    def submit_best(self, checkpoint: str | Path, step: int) -> None:
        """Queue the best checkpoint folder (``checkpoints/best``, the model of ``step``);
        it goes to ``<uri>/checkpoints/best``. Returns at once."""
        self._enqueue(_Upload(step, self.staging / f"best-{step}", best=True), checkpoint)

    def _enqueue(self, item: _Upload, checkpoint: str | Path) -> None:
        if self._closed:
            raise RuntimeError("the checkpoint mirror is closed")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="training-hub-checkpoint-upload", daemon=True
            )
            self._thread.start()
        staged = item.staged
        with self._changed:  # a queued upload of the same folder is superseded
            dropped = [q for q in self._queue if q.staged == staged or (item.best and q.best)]
            self._queue = [q for q in self._queue if q not in dropped]
        for old in dropped:
            shutil.rmtree(old.staged, ignore_errors=True)
        staged.parent.mkdir(parents=True, exist_ok=True)
        try:  # hard links: instant, no extra space; checkpoint files are never rewritten
            shutil.copytree(checkpoint, staged, copy_function=os.link)
        except OSError:
            shutil.rmtree(staged, ignore_errors=True)
            shutil.copytree(checkpoint, staged)
        with self._changed:
            self._queue.append(item)
            self._changed.notify_all()

    # --- callback events (when the mirror is one of the run's callbacks) -------------
    def on_save(self, context: Any) -> None:
        if context.checkpoint:
            self.submit(context.checkpoint, context.step)

    def on_train_end(self, context: Any) -> None:
        self.close()

    # --- the end of the run ----------------------------------------------------------
    def close(self, timeout_s: float = 1800.0) -> MirrorReport:
        """Wait up to ``timeout_s`` for the queued uploads; log a warning naming every
        checkpoint that is not in the storage by then. Safe to call twice."""
        if self._closed:
            return self.report
        self._closed = True
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (self._queue or self._busy is not None) and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    break
                self._changed.wait(left)
            left_over = self._queue + ([self._busy] if self._busy is not None else [])
            self.report.not_uploaded = sorted(u.step for u in left_over if not u.best)
            self.report.best_not_uploaded = sorted(u.step for u in left_over if u.best)
            self._queue.clear()
            self._abandoned.set()
            self._changed.notify_all()
        report, prefix = self.report, self.remote.prefix
        pending = [f"{prefix}-{s}" for s in report.not_uploaded] + [
            f"best (of step {s})" for s in report.best_not_uploaded]
        failures = [f"{prefix}-{s}: {e}" for s, e in sorted(report.failed.items())] + [
            f"best (of step {s}): {e}" for s, e in sorted(report.best_failed.items())]
        if pending or failures:
            logger.warning(
                "checkpoint storage %s: %s. Those checkpoints are only in %s; copy them "
                "yourself or resume this run to upload newer ones.",
                self.remote.uri,
                "; ".join(
                    ([f"not uploaded after waiting {timeout_s:g} s: " + ", ".join(pending)]
                     if pending else [])
                    + (["upload failed: " + "; ".join(failures)] if failures else [])
                ),
                self.staging.parent / _CHECKPOINTS_DIRNAME,
            )
        if not pending:
            shutil.rmtree(self.staging, ignore_errors=True)
        return report

    def _next(self) -> _Upload | None:
        """The next checkpoint to upload (None once the run stopped waiting)."""
        with self._changed:
            while True:
                while not self._queue and not self._abandoned.is_set():
                    self._changed.wait()
                if self._abandoned.is_set():
                    return None
                item = self._queue.pop(0)
                newer = sum(1 for q in self._queue if not q.best and q.step > item.step)
                if item.best or self.keep_last_n is None or newer < self.keep_last_n:
                    self._busy = item
                    return item
                self.report.skipped.append(item.step)  # keep_last_n would prune it at once
                shutil.rmtree(item.staged, ignore_errors=True)
                self._changed.notify_all()

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            target = None if item.best else item.step
            where = self.remote.where(target)
            try:
                self.remote.upload(item.staged, target, self._abandoned)
                (self.report.best_uploaded if item.best else self.report.uploaded).append(
                    item.step)
                logger.info("checkpoint storage: uploaded %s", where)
                if not item.best:
                    for removed in self.remote.prune(self.keep_last_n):
                        logger.info("checkpoint storage: pruned %s", self.remote.where(removed))
            except _Abandoned:
                pass
            except Exception as exc:
                failed = self.report.best_failed if item.best else self.report.failed
                failed[item.step] = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "checkpoint storage: uploading %s failed after %d tries: %s: %s; training "
                    "goes on, the checkpoint is kept locally",
                    where, self.remote.attempts, type(exc).__name__, exc,
                )
            finally:
                shutil.rmtree(item.staged, ignore_errors=True)
                with self._changed:
                    self._busy = None
                    self._changed.notify_all()


def open_mirror(params: TrainingParams, *, prefix: str = "step") -> CheckpointMirror:
    """Rank 0's mirror of a run with ``checkpoint_storage``, checked writable
    (``prefix``: the backend's checkpoint folder names, ``<prefix>-<step>``).

    A fresh run (``resume='none'``) refuses a storage that holds complete checkpoints
    of an earlier run unless ``overwrite``, which removes them (as it clears the
    local checkpoints).
    """
    assert params.checkpoint_storage is not None
    mirror = CheckpointMirror(
        params.checkpoint_storage, params.ckpt_output_dir, keep_last_n=params.keep_last_n,
        prefix=prefix,
    ).start()
    if params.resume == "none":
        remote = mirror.remote
        earlier: list[int | None] = [*remote.complete_steps()]
        if remote.has_complete_best():
            earlier.append(None)
        if earlier and not params.overwrite:
            names = ", ".join(remote.where(s).rsplit("/", 1)[-1] for s in earlier)
            raise ParameterError(
                f"checkpoint_storage '{params.checkpoint_storage}' holds checkpoints of an "
                f"earlier run ({names}). Set resume='latest' to continue it, overwrite=True to "
                "replace it (its checkpoints there are deleted), or choose another "
                "checkpoint_storage."
            )
        for step in earlier:
            remote.remove(step)
            logger.info("checkpoint storage: removed %s (overwrite)", remote.where(step))
    return mirror


def fetch_if_newer(
    uri: str, output_dir: str | Path, local: Path | None, *, prefix: str = "step",
    resumable_file: str = RESUMABLE_FILE,
) -> Path | None:
    """The newest complete checkpoint of the run: ``local`` (the newest local one), or the
    newest one in the storage, downloaded into ``output_dir`` first, when it is newer.

    The remote best checkpoint is downloaded too when ``output_dir`` has none (a fresh
    machine), so the resumed run keeps comparing against it. ``prefix`` and
    ``resumable_file`` describe the backend's layout (the engine's by default).
    """
    remote = RemoteCheckpoints(uri, prefix=prefix)
    best_local = Path(output_dir) / _CHECKPOINTS_DIRNAME / BEST_DIRNAME / _COMPLETE_MARKER
    if not best_local.is_file() and remote.has_complete_best():
        logger.info("Downloading %s (no best checkpoint here)", remote.where(None))
        remote.download(None, Path(output_dir))
    # Only checkpoints with the optimizer state resume exactly (not model-only ones).
    steps = [s for s in remote.complete_steps()
             if remote.fs.exists(f"{remote.folder(s)}/{resumable_file}")]
    local_step = -1
    if local is not None:
        match = re.match(rf"^{re.escape(prefix)}-(\d+)$", local.name)
        local_step = int(match.group(1)) if match else -1
    if not steps or steps[-1] <= local_step:
        return local
    logger.info(
        "Downloading %s (newer than any local checkpoint) to resume from it",
        remote.where(steps[-1]),
    )
    return remote.download(steps[-1], Path(output_dir))
