"""``python -m training_hub.engine.torchrun ARGS``: torch's torchrun, minus its traceback.

``th train --nproc-per-node N`` launches the workers with this module instead of
``python -m torch.distributed.run`` (same arguments, same launch). torchrun itself ends a
run whose worker failed by raising ``ChildFailedError``: a Python traceback and a failure
table after the workers' own messages. A worker that stopped on a user error (exit code
2) has already printed its one message, and one stopped by a signal after its checkpoint
(75) has said so: then the launcher exits with that code quietly. On any other failure
it prints torchrun's failure table (which ranks failed, how) without the traceback, and
exits 1.
"""

from __future__ import annotations

import sys

from .signals import INTERRUPTED_EXIT_CODE

__all__ = ["USER_ERROR_EXIT_CODE", "main"]

#: A worker's exit code after a :class:`~training_hub._errors.UserError` (its message printed).
USER_ERROR_EXIT_CODE = 2
#: Exit codes of workers that reported why they stopped: no failure table for these.
_REPORTED = (USER_ERROR_EXIT_CODE, INTERRUPTED_EXIT_CODE)


def main(argv: list[str] | None = None) -> int:
    """Run torchrun with ``argv`` (default: the command line); the launcher's exit code."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # its "failed (exitcode: N)" line: the workers' messages, or the table below, say it
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    try:
        run(parse_args(argv))
    except ChildFailedError as failed:
        codes = {f.exitcode for f in failed.failures.values()}
        for code in _REPORTED:
            if code in codes:
                return code
        print(failed.format_msg(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
