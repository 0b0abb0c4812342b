"""Per-thread stdout/stderr for the jobs the twin runs in-process.

`contextlib.redirect_stdout` swaps `sys.stdout` for the whole process: while a Glue or EMR Serverless run prints to
its log on the executor's worker thread, everything the caller prints meanwhile (the demo's progress, a test's
output) would land in that run's log instead. `thread_output(file)` routes only the calling thread's writes to
`file`; other threads keep writing where they did.

Threads a job starts itself write to the process's streams, not to the run's log.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import IO, Any, Iterator

_local = threading.local()
_lock = threading.Lock()
_state: dict[str, Any] = {"users": 0, "saved": None, "routers": None}


class _Routed:
    """Stands in for sys.stdout or sys.stderr: writes go to the calling thread's file, or to the stream it replaced."""

    def __init__(self, name: str, fallback: IO[str]) -> None:
        self._name, self._fallback = name, fallback

    def _target(self) -> IO[str]:
        return getattr(_local, self._name, None) or self._fallback

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, attribute: str) -> Any:  # encoding, isatty, fileno, ... of the current target
        return getattr(self._target(), attribute)


@contextlib.contextmanager
def thread_output(file: IO[str]) -> Iterator[IO[str]]:
    """Inside the block, this thread's `print`s and tracebacks (sys.stdout, sys.stderr) go to `file`."""
    with _lock:
        if _state["users"] == 0:
            _state["saved"] = (sys.stdout, sys.stderr)
            _state["routers"] = (_Routed("stdout", sys.stdout), _Routed("stderr", sys.stderr))
            sys.stdout, sys.stderr = _state["routers"]
        _state["users"] += 1
    previous = (getattr(_local, "stdout", None), getattr(_local, "stderr", None))
    _local.stdout = _local.stderr = file
    try:
        yield file
    finally:
        _local.stdout, _local.stderr = previous
        with _lock:
            _state["users"] -= 1
            if _state["users"] == 0:
                routers, (stdout, stderr) = _state["routers"], _state["saved"]
                # put back what was replaced, unless someone else has replaced the routers since
                if sys.stdout is routers[0]:
                    sys.stdout = stdout
                if sys.stderr is routers[1]:
                    sys.stderr = stderr
                _state["saved"] = _state["routers"] = None
