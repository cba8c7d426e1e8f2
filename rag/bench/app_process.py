"""The chat app as a separate process, as a deployment runs it, and what a bench or a test does to it over HTTP.

``AppServer(index, log_path).start()`` runs ``python app.py --index INDEX --port P`` on a free port of 127.0.0.1
(offline, analytics off), waits until it answers a question, and ``stop()`` ends it by its PID (and its process
group, which it leads). ``add_file(url, path)`` adds a file to the index through the page's own "Add to the index"
event, as the browser does it; ``ask_api(http, url, question)`` asks the named API ``/ask`` once, and
``ask_until_cited(...)`` asks one question until the answer cites a given title.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0  # importing Gradio and torch and loading the model on a loaded 2-core machine
STOP_GRACE_S = 10.0


class AppProcessError(RuntimeError):
    """An app server did not start, or the page refused what was asked of it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """One ``python app.py`` process on 127.0.0.1; a context manager that stops it on exit."""

    index: str
    log_path: Path
    port: int = 0
    popen: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> AppServer:
        """Launch it and wait until it answers; stopped again when it does not."""
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> AppServer:
        """Start the process and return at once (``wait_ready`` waits for it)."""
        if not (ROOT / "app.py").is_file():
            raise AppProcessError(f"{ROOT / 'app.py'} is missing: run from a newsrag checkout")
        self.port = self.port or free_port()
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        env.pop("NEWSRAG_INDEX", None)
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "app.py", "--index", self.index, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own process group, so that stop() reaches whatever it starts
        log.info("app server pid %d on %s for %s", self.popen.pid, self.url, self.index)
        return self

    def wait_ready(self) -> None:
        """Until the first question is answered (so the model is loaded before anything is timed)."""
        import httpx

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AppProcessError(f"the app server on port {self.port} exited with status "
                                      f"{self.popen.returncode}:\n{self.log_tail()}")
            try:
                with httpx.Client(timeout=START_TIMEOUT_S) as http:
                    ask_api(http, self.url, "What happened?")
                return
            except Exception:  # noqa: BLE001 - not listening yet, or still opening the index
                time.sleep(1.0)
        raise AppProcessError(f"the app server on port {self.port} did not answer within {START_TIMEOUT_S:.0f} s:"
                              f"\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after ``STOP_GRACE_S``; idempotent."""
        if self.popen is None or self.popen.returncode is not None:
            return
        pid = self.popen.pid
        for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)  # the group it leads: pgid == its PID (start_new_session)
            try:
                self.popen.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        log.info("app server pid %d stopped (status %s)", pid, self.popen.returncode)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_file(url: str, path: Path, timeout_s: float = 300.0) -> str:
    """Add ``path`` to the index of the app at ``url`` through the page's "Add to the index" event: upload it,
    join the queue with the event's ``fn_index``, read the event stream to its end. Returns the status HTML.

    gradio_client cannot do it: the event is private to the page (``api_visibility="private"``), and the client
    answers "Invalid function index" for it; the page itself calls it this way."""
    import httpx

    api = url.rstrip("/") + "/gradio_api"
    with httpx.Client(timeout=timeout_s) as http:
        fn_index = _add_event(http.get(url.rstrip("/") + "/config").raise_for_status().json())
        with path.open("rb") as fh:
            uploaded = http.post(api + "/upload", files={"files": (path.name, fh)}).raise_for_status().json()
        session = uuid.uuid4().hex[:12]
        file_data = {"path": uploaded[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
        http.post(api + "/queue/join", json={"data": [[file_data], ""], "fn_index": fn_index, "session_hash": session,
                                             "event_data": None, "trigger_id": None}).raise_for_status()
        with http.stream("GET", api + "/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if not message.get("success"):
                        raise AppProcessError(f"adding {path.name} failed: {output.get('error') or output}")
                    return output["data"][0]
    raise AppProcessError(f"adding {path.name}: the event stream ended without a result")


def _add_event(config: dict) -> int:
    """The fn_index of the event whose inputs are the upload box and the URL box (elem_ids ``upload``, ``urls``)."""
    names = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    for dependency in config["dependencies"]:
        if [names.get(i) for i in dependency["inputs"]] == ["upload", "urls"]:
            return dependency["id"]
    raise AppProcessError("the page has no add event (inputs #upload and #urls): is this newsrag's app?")


def ask_api(http, url: str, question: str, as_of: str = "", history: Sequence[str] = ()) -> dict:  # noqa: ANN001
    """One call of the app's named API ``/ask`` through Gradio's REST route (``POST /gradio_api/call/ask``, then
    its event's own stream): the JSON answer. ``http`` is an ``httpx.Client``.

    Not gradio_client: its calls share one event stream per client, and when a call is sent just as the stream of
    the one before closes, the client cancels it (``CancelledError``) although the server answers it. The REST
    route gives each call its own stream. Raises AppProcessError with the app's message when it answers an error.
    """
    api = url.rstrip("/") + "/gradio_api/call/ask"
    data = [question, as_of, [], "", "", list(history)]  # api_ask's parameters, in order
    event_id = http.post(api, json={"data": data}).raise_for_status().json()["event_id"]
    event = ""
    with http.stream("GET", f"{api}/{event_id}") as stream:
        stream.raise_for_status()
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(line[5:])
                if event == "error":
                    message = payload.get("error") if isinstance(payload, dict) else payload
                    raise AppProcessError(f"/ask answered an error: {message}")
                return payload[0]
    raise AppProcessError(f"/ask: the event stream of {event_id} ended without a result")


def ask_until_cited(url: str, question: str, title: str, since: float, timeout_s: float = 60.0) -> float | None:
    """Ask ``question`` at ``url`` until an answer (not an abstention) lists a source titled ``title``; the seconds
    from ``since`` (a ``time.perf_counter()``) to that answer, or None when none had after ``timeout_s``."""
    import httpx

    with httpx.Client(timeout=timeout_s) as http:
        while time.perf_counter() - since < timeout_s:
            result = ask_api(http, url, question)
            if not result.get("abstained") and title in [s.get("title") for s in result.get("sources", [])]:
                return time.perf_counter() - since
            time.sleep(0.2)
    return None
