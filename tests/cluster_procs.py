"""The processes a test cluster starts, each tracked by process id and torn down by process id, never by name.

Every server runs in a session of its own (``start_new_session``): a Ctrl-C in the terminal reaches only the script,
which then tears down in order, and one ``killpg`` reaches what the server forks into its group (Ray's gcs_server,
raylet and workers). Postgres puts each backend in a group of its own, so every PID seen under a server is also
recorded and killed one by one. ``teardown_on_exit`` makes sure that happens on any way out: a normal
return, an exception, SIGINT, SIGTERM or interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class ClusterError(RuntimeError):
    """A server of the test cluster failed to start; the message carries the tail of its log."""


class Stoppable(Protocol):
    def stop(self) -> None: ...


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as gone)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it, as far as they can be seen now."""
    import psutil

    try:
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log at {path}: {exc})"


@dataclass
class Server:
    """One long-running process we started in a new session: its Popen, its log and every PID seen under it."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: int | None = None
    group: int | None = None
    popen: subprocess.Popen | None = None
    seen: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            extra = {"user": self.user, "group": self.group, "extra_groups": []} if self.user is not None else {}
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          env=self.env, cwd=self.cwd, start_new_session=True, **extra)
        self.seen.add(self.popen.pid)
        log.info("started %s as pid %d: %s", self.name, self.popen.pid, " ".join(self.argv))

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def record(self) -> set[int]:
        """Add every process now under this server to ``seen``; returns ``seen``."""
        if self.running():
            self.seen |= descendants(self.pid)
        return self.seen

    def check(self) -> None:
        """Raise ClusterError with the log's tail when the process has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            raise ClusterError(f"{self.name} exited with status {self.popen.returncode}; "
                               f"the end of {self.log_path}:\n{tail(self.log_path)}")

    def send(self, signum: int) -> None:
        if self.running():
            os.kill(self.pid, signum)

    def stop(self, signum: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """Send ``signum`` to the leader, wait ``grace`` seconds, then SIGKILL its group and every PID seen."""
        if self.popen is None:
            return
        self.record()
        self.send(signum)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) ignored signal %d for %.0f s: killing it", self.name, self.pid, signum, grace)
        kill_all(self.seen, pgids=[self.pid])
        self.popen.wait()


def kill_all(pids: Iterable[int], pgids: Iterable[int] = (), timeout: float = 10.0) -> None:
    """SIGKILL the process groups ``pgids`` and each of ``pids`` still alive, then wait until all are gone."""
    pids = set(pids)
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        raise ClusterError(f"processes {left} survived SIGKILL for {timeout:.0f} s")


_live: list[Stoppable] = []
_lock = threading.Lock()


def teardown_on_exit(cluster: Stoppable) -> None:
    """Stop ``cluster`` when the interpreter exits or gets SIGTERM, unless it was stopped before (``forget``)."""
    with _lock:
        if not _live:
            atexit.register(_stop_all)
            _raise_on_sigterm()
        _live.append(cluster)


def forget(cluster: Stoppable) -> None:
    with _lock:
        if cluster in _live:
            _live.remove(cluster)


def _stop_all() -> None:
    while _live:
        cluster = _live.pop()
        try:
            cluster.stop()
        except Exception:
            log.exception("tearing down %r at exit failed", cluster)


def _raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that finally blocks, context managers and atexit all run.

    Only when nobody else handles SIGTERM and only from the main thread (where Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
