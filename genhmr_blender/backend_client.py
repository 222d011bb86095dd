"""Talk to the backend process without ever blocking Blender's main thread.

No ``bpy`` here: the client is plain subprocess + threads so it is tested against real child
processes outside Blender. Two daemon threads read the child's stdout (JSON lines -> a queue) and
stderr (kept as a rolling tail for error messages). The owner calls :meth:`BackendClient.poll`
from a timer; it only drains the queue, so it returns at once.

Failure handling lives here because only the client sees the process:

* the process exits while a job runs (crash, OOM kill, ``sys.exit``) -> a synthesised ``error``
  event carrying the exit code and the stderr tail;
* the process never says ``hello`` or speaks another protocol version -> ``error``;
* a ``cancel`` the backend does not honour within ``cancel_timeout`` -> the process is killed and
  a ``cancelled`` event synthesised;
* :meth:`BackendClient.shutdown` asks politely, then terminates, then kills.

Lines on stdout that are not protocol messages are not fatal (a native library may print before
the backend protects its stdout); they are kept in :attr:`BackendClient.noise` and reported with
any later error.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from ._core import protocol

Event = dict[str, Any]

STDERR_TAIL_LINES = 40
_EXITED = object()  # queue sentinel: stdout closed and the process has exited


def _popen_kwargs() -> dict[str, Any]:
    """No console window on Windows; own process group elsewhere so Ctrl-C in a terminal-run
    Blender does not hit the backend before the add-on can cancel it cleanly."""
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {"start_new_session": True}


class JsonLinesProcess:
    """A child process whose stdout is JSON lines, read on threads into a queue.

    ``decode`` turns a line into a message or raises ``ValueError``; undecodable lines go to
    :attr:`noise`. Used for the backend server and for ``install_backend.py --json``.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 cwd: str | None = None, decode: Callable[[str], Event] = protocol.decode,
                 log_path: str | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._decode = decode
        self._log_path = log_path
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.noise: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._stderr_thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def start(self) -> None:
        """Spawn the process; raises ``OSError`` when it cannot be started at all."""
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env, cwd=self.cwd, text=True, encoding="utf-8", errors="replace",
            bufsize=1, **_popen_kwargs())
        self._stderr_thread = threading.Thread(
            target=self._read_stderr, args=(self.proc.stderr,), daemon=True,
            name="genhmr-stderr")
        self._stderr_thread.start()
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True,
                         name="genhmr-stdout").start()

    # -- reader threads -------------------------------------------------------------------------
    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            if not line.strip():
                continue
            try:
                self._queue.put(self._decode(line))
            except ValueError:
                self._queue.put(("noise", line.rstrip("\n")))
        assert self.proc is not None
        self.proc.wait()
        if self._stderr_thread is not None:  # the tail must be complete before we report
            self._stderr_thread.join(timeout=2.0)
        self._queue.put(_EXITED)

    def _read_stderr(self, stream: IO[str]) -> None:
        log = None
        if self._log_path:
            with contextlib.suppress(OSError):
                log = open(self._log_path, "a", encoding="utf-8")  # noqa: SIM115
        try:
            for line in stream:
                self._stderr_tail.append(line.rstrip("\n"))
                if log is not None:
                    log.write(line)
                    log.flush()
        finally:
            if log is not None:
                log.close()

    # -- owner side -----------------------------------------------------------------------------
    def send_line(self, line: str) -> bool:
        """Write one line to stdin; False when the process no longer reads it."""
        if self.proc is None or self.proc.stdin is None:
            return False
        with self._write_lock:
            try:
                self.proc.stdin.write(line if line.endswith("\n") else line + "\n")
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def drain(self) -> list[Any]:
        """Everything the reader threads queued so far (messages, noise tuples, the sentinel)."""
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def stderr_tail(self, lines: int = 15) -> str:
        return "\n".join(list(self._stderr_tail)[-lines:])

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def close_stdin(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            with self._write_lock, contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def stop(self, timeout: float = 5.0) -> int | None:
        """Close stdin, wait up to ``timeout``, then terminate, then kill. Returns the exit code."""
        if self.proc is None:
            return None
        self.close_stdin()
        for action in (None, self.proc.terminate, self.proc.kill):
            if action is not None:
                with contextlib.suppress(OSError):
                    action()
            try:
                return self.proc.wait(timeout=timeout if action is None else 2.0)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.poll()


class BackendClient:
    """The add-on's side of the JSON-lines protocol: one backend process, one job at a time.

    ``argv`` is the full command, normally ``[python, "-m", "genhmr", "serve"]`` (see
    :mod:`.backend_env`). Events from :meth:`poll` are protocol dicts; synthesised ones carry
    ``"synthetic": True``.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 cwd: str | None = None, hello_timeout: float = 60.0,
                 cancel_timeout: float = 15.0, log_path: str | None = None) -> None:
        self.process = JsonLinesProcess(argv, env=env, cwd=cwd, log_path=log_path)
        self.hello: Event | None = None
        self.job_id: str | None = None
        self.exited = False
        self.hello_timeout = hello_timeout
        self.cancel_timeout = cancel_timeout
        self._started_at = 0.0
        self._cancel_at: float | None = None
        self._shutting_down = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the backend. Raises ``OSError`` (e.g. interpreter not found) synchronously."""
        self.process.start()
        self._started_at = time.monotonic()

    @property
    def noise(self) -> list[str]:
        return self.process.noise

    @property
    def job_active(self) -> bool:
        return self.job_id is not None

    def start_job(self, video: str, out_dir: str, job_id: str | None = None,
                  **options: Any) -> str:
        """Send a ``start`` request (queued in the pipe even before ``hello`` arrives)."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.start_request(job_id, video, out_dir, **options))

    # The edit requests name the job folder's ``revision`` the scene shows (None: the
    # folder's current one); the backend first brings the folder to it.
    def refine_job(self, job_dir: str, person: int, frame_start: int, frame_end: int,
                   job_id: str | None = None, revision: int | None = None,
                   **options: Any) -> str:
        """Send a ``refine`` request: re-run refinement on video frames ``frame_start`` ..
        ``frame_end`` (inclusive) of one person of the finished job in ``job_dir``."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.refine_request(job_id, job_dir, person, frame_start,
                                                      frame_end, revision, **options))

    def merge_job(self, job_dir: str, keep: int, other: int, job_id: str | None = None,
                  revision: int | None = None) -> str:
        """Send a ``merge`` request: person ``other`` of the finished job in ``job_dir`` joins
        person ``keep`` (track ids), and the joined track is solved again."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.merge_request(job_id, job_dir, keep, other, revision))

    def split_job(self, job_dir: str, person: int, frame: int, new_person: int | None = None,
                  job_id: str | None = None, revision: int | None = None) -> str:
        """Send a ``split`` request: person ``person`` of the finished job in ``job_dir`` keeps
        its frames before video frame ``frame``; person ``new_person`` takes the rest."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.split_request(job_id, job_dir, person, frame, new_person,
                                                     revision))

    def drop_job(self, job_dir: str, person: int, job_id: str | None = None,
                 revision: int | None = None) -> str:
        """Send a ``drop`` request: person ``person`` leaves the finished job in ``job_dir``."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.drop_request(job_id, job_dir, person, revision))

    def resample_job(self, job_dir: str, person: int, frame_start: int, frame_end: int,
                     job_id: str | None = None, revision: int | None = None,
                     **options: Any) -> str:
        """Send a ``resample`` request: alternatives for video frames ``frame_start`` ..
        ``frame_end`` of one person of the finished job in ``job_dir``, kept beside it."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.resample_request(job_id, job_dir, person, frame_start,
                                                        frame_end, revision, **options))

    def accept_job(self, job_dir: str, alternative: int, set_id: str | None = None,
                   job_id: str | None = None, revision: int | None = None) -> str:
        """Send an ``accept`` request: alternative ``alternative`` (1-based) of set ``set_id``
        of the job in ``job_dir`` becomes its motion."""
        if self.job_id is not None:
            raise RuntimeError(f"job {self.job_id} is still running")
        job_id = job_id or uuid.uuid4().hex[:12]
        return self._send_job(protocol.accept_request(job_id, job_dir, alternative, set_id,
                                                      revision))

    def _send_job(self, request: dict[str, Any]) -> str:
        self.job_id = request["job_id"]
        # When the process is already gone, poll() reports why with the stderr tail.
        self.process.send_line(protocol.encode(request))
        return self.job_id

    @property
    def alive(self) -> bool:
        """Started, not exited, and not being shut down: it can take another job."""
        return (self.process.proc is not None and self.process.returncode is None
                and not self.exited and not self._shutting_down)

    def cancel(self) -> None:
        """Ask the backend to stop the running job; it is killed if it does not comply in time."""
        if self.job_id is None or self._cancel_at is not None:
            return
        self._cancel_at = time.monotonic()
        self.process.send_line(protocol.encode({"type": "cancel", "job_id": self.job_id}))

    def shutdown(self, timeout: float = 5.0) -> int | None:
        """Stop the backend (polite ``shutdown`` request first). Safe to call more than once."""
        self._shutting_down = True
        if self.process.proc is None:
            return None
        if self.process.returncode is None:
            self.process.send_line(protocol.encode({"type": "shutdown"}))
        return self.process.stop(timeout=timeout)

    # -- events ---------------------------------------------------------------------------------
    def poll(self) -> list[Event]:
        """Events received since the last call, plus synthesised failures. Never blocks."""
        events: list[Event] = []
        for item in self.process.drain():
            if item is _EXITED:
                events.extend(self._on_exit())
            elif isinstance(item, tuple):
                self.process.noise.append(item[1])
            else:
                events.extend(self._on_event(item))
        events.extend(self._check_timeouts())
        return events

    def wait_events(self, timeout: float, interval: float = 0.02) -> list[Event]:
        """Blocking convenience for scripts and tests: poll until something arrives or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.poll()
            if events or time.monotonic() >= deadline:
                return events
            time.sleep(interval)

    def _on_event(self, event: Event) -> list[Event]:
        kind = event["type"]
        if kind == "hello":
            self.hello = event
            if event.get("protocol") != protocol.PROTOCOL_VERSION:
                msg = (f"the backend speaks protocol {event.get('protocol')}, this add-on "
                       f"{protocol.PROTOCOL_VERSION}; update the add-on or the backend")
                failure = self._fail(msg, kind="protocol")
                self._kill()
                return [event, failure]
            return [event]
        if kind in ("done", "cancelled") and event.get("job_id") == self.job_id:
            self._job_finished()
        elif kind == "error" and (event.get("job_id") in (None, self.job_id)):
            if event.get("job_id") is None and self.job_id is not None:
                event = {**event, "job_id": self.job_id}
            self._job_finished()
        return [event]

    def _on_exit(self) -> list[Event]:
        self.exited = True
        code = self.process.returncode
        if self.job_id is None and (self._shutting_down or (code == 0 and self.hello)):
            return []  # asked to stop, or a clean exit with nothing running: not a failure
        if self._cancel_at is not None:
            job_id = self.job_id
            self._job_finished()
            return [{"type": "cancelled", "job_id": job_id, "synthetic": True,
                     "message": f"backend exited (code {code}) while cancelling"}]
        what = "during the job" if self.job_id else (
            "before saying hello" if self.hello is None else "while idle")
        return [self._fail(f"The backend process stopped unexpectedly {what} "
                           f"(exit code {code}).", kind="crash", returncode=code)]

    def _check_timeouts(self) -> list[Event]:
        now = time.monotonic()
        if self.exited:
            return []
        if self._cancel_at is not None and now - self._cancel_at > self.cancel_timeout:
            job_id = self.job_id
            self._job_finished()
            self._kill()
            return [{"type": "cancelled", "job_id": job_id, "synthetic": True,
                     "message": "backend did not stop in time and was killed"}]
        if self.hello is None and now - self._started_at > self.hello_timeout:
            self._kill()
            return [self._fail(f"The backend did not start within {self.hello_timeout:.0f} s.",
                               kind="timeout")]
        return []

    def _fail(self, message: str, kind: str, **extra: Any) -> Event:
        tail = self.process.stderr_tail()
        noise = "\n".join(self.process.noise[-5:])
        full = message
        if tail:
            full += f"\nLast backend output:\n{tail}"
        if noise:
            full += f"\nUnexpected lines on the protocol stream:\n{noise}"
        event: Event = {"type": "error", "message": full, "kind": kind, "synthetic": True,
                        "stderr_tail": tail, **extra}
        if self.job_id is not None:
            event["job_id"] = self.job_id
        self._job_finished()
        return event

    def _job_finished(self) -> None:
        self.job_id = None
        self._cancel_at = None

    def _kill(self) -> None:
        self._shutting_down = True
        proc = self.process.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()


def child_env(pythonpath: Sequence[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a backend child: our PYTHONPATH only, unbuffered UTF-8 output.

    Blender may run with PYTHONHOME/PYTHONPATH pointing at its own bundled Python; a venv
    interpreter must not inherit those.
    """
    env = dict(os.environ if base is None else base)
    for key in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE"):
        env.pop(key, None)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONNOUSERSITE"] = "1"
    return env
