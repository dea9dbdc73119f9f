"""The run lock: one live run per ``ckpt_output_dir``.

A run holds ``<ckpt_output_dir>/.training-hub.lock`` for its whole life: an
exclusive ``flock`` on the file (released by the kernel when the process dies,
so the lock of a dead run never blocks) plus, inside it, who holds it, for the
message a second run gets. Where the file system has no ``flock``, a lock whose
process is gone from this host is taken over. The torchrun launcher takes the
lock before starting the workers and hands it to them through the environment;
otherwise rank 0 takes it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .._errors import UserError

__all__ = ["HANDED_LOCK_ENV", "LOCK_FILENAME", "OutputDirInUseError", "RunLock"]

LOCK_FILENAME = ".training-hub.lock"
#: Set by a launcher that holds the lock for its torchrun workers: ``<lock path>``.
HANDED_LOCK_ENV = "TRAINING_HUB_RUN_LOCK_HELD"

try:
    import fcntl
except ImportError:  # Windows: the pid check alone
    fcntl = None  # type: ignore[assignment]


class OutputDirInUseError(UserError):
    """Another live run writes into the same ``ckpt_output_dir``."""


def _describe(holder: dict[str, Any]) -> str:
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {when}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """A held lock; :meth:`acquire` is the way to get one."""

    def __init__(self, path: Path, handle: IO[str] | None) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    @contextlib.contextmanager
    def acquire(cls, output_dir: str | Path) -> Iterator[RunLock]:
        """Hold the lock of ``output_dir`` for the ``with`` block, or raise
        :class:`OutputDirInUseError` naming the live run that holds it. Inside a
        process whose launcher holds it (:meth:`child_env`), nothing is taken."""
        path = Path(output_dir) / LOCK_FILENAME
        if os.environ.get(HANDED_LOCK_ENV) == str(path.resolve()):
            yield cls(path, None)
            return
        lock = cls._take(path)
        try:
            yield lock
        finally:
            lock.release()

    def child_env(self) -> dict[str, str]:
        """Environment for the processes this lock is held for (torchrun workers)."""
        return {HANDED_LOCK_ENV: str(self.path.resolve())}

    @classmethod
    def _take(cls, path: Path) -> RunLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
              "token": uuid.uuid4().hex}
        for _ in range(10):
            handle = path.open("a+", encoding="utf-8")
            try:
                if not cls._flock(handle, path):
                    holder = cls._read(path)
                    raise OutputDirInUseError(
                        f"ckpt_output_dir '{path.parent}' is in use by a live run "
                        f"({_describe(holder)}; lock file {path}). Wait for that run to end "
                        "or stop it, or choose another ckpt_output_dir."
                    )
                if not cls._same_file(handle, path):
                    handle.close()  # the holder removed the file as we opened it: retry
                    continue
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(me))
                handle.flush()
                return cls(path, handle)
            except BaseException:
                handle.close()
                raise
        raise OutputDirInUseError(f"could not take the run lock {path}: it keeps changing")

    @staticmethod
    def _flock(handle: IO[str], path: Path) -> bool:
        """True when this process now holds the lock."""
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
        # No flock here: the recorded holder counts while its process lives on this host.
        holder = RunLock._read(path)
        pid = holder.get("pid")
        if not isinstance(pid, int) or pid == os.getpid():
            return True
        if holder.get("host") != socket.gethostname():
            return False
        return not _pid_alive(pid)

    @staticmethod
    def _same_file(handle: IO[str], path: Path) -> bool:
        try:
            return os.fstat(handle.fileno()).st_ino == path.stat().st_ino
        except FileNotFoundError:
            return False

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            holder = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def release(self) -> None:
        """Remove the lock file (while still holding it) and let go."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            if self._same_file(self._handle, self.path):
                self.path.unlink()
        self._handle.close()
        self._handle = None
