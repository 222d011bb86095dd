"""BackendClient against real child processes (no bpy).

The children are small Python programs speaking the protocol (or failing to), started with
``sys.executable`` exactly the way the add-on starts the real backend. The real backend server is
exercised in tests/backend/test_server.py and through Blender in the end-to-end test.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from genhmr_blender import backend_env
from genhmr_blender.backend_client import BackendClient
from genhmr_blender.job import AnalysisJob, overall_fraction
from genhmr_core import protocol

HEADER = textwrap.dedent(f"""
    import json, sys, time
    PROTOCOL = {protocol.PROTOCOL_VERSION}
    def send(**m):
        sys.stdout.write(json.dumps(m) + "\\n"); sys.stdout.flush()
    def requests():
        for line in sys.stdin:
            if line.strip():
                yield json.loads(line)
""")

GOOD = HEADER + textwrap.dedent("""
    send(type="hello", protocol=PROTOCOL, backend_version="test")
    for req in requests():
        if req["type"] == "start":
            jid = req["job_id"]
            send(type="accepted", job_id=jid)
            for i in range(3):
                send(type="progress", job_id=jid, stage="detect", done=i + 1, total=3,
                     elapsed_s=0.01 * i)
            send(type="person", job_id=jid, track_id=0, frames=3)
            send(type="done", job_id=jid, result_path=req["out_dir"] + "/result.npz",
                 num_people=1, elapsed_s=0.1, stage_seconds={"detect": 0.1})
        elif req["type"] == "shutdown":
            send(type="bye")
            break
""")

# Starts a job, then dies with a message on stderr, as an out-of-memory or native crash would.
CRASH = HEADER + textwrap.dedent("""
    send(type="hello", protocol=PROTOCOL, backend_version="test")
    for req in requests():
        if req["type"] == "start":
            send(type="accepted", job_id=req["job_id"])
            send(type="progress", job_id=req["job_id"], stage="detect", done=1, total=10,
                 elapsed_s=0.1)
            sys.stderr.write("loading model\\nRuntimeError: segfault-ish failure\\n")
            sys.stderr.flush()
            sys.exit(3)
""")

# Honours cancel between frames.
SLOW = HEADER + textwrap.dedent("""
    import threading
    send(type="hello", protocol=PROTOCOL, backend_version="test")
    stop = threading.Event()
    def job(jid):
        for i in range(1000):
            if stop.is_set():
                send(type="cancelled", job_id=jid); return
            send(type="progress", job_id=jid, stage="detect", done=i, total=1000, elapsed_s=0)
            time.sleep(0.01)
    for req in requests():
        if req["type"] == "start":
            threading.Thread(target=job, args=(req["job_id"],), daemon=True).start()
        elif req["type"] == "cancel":
            stop.set()
        elif req["type"] == "shutdown":
            break
""")

# Ignores cancel and shutdown and even SIGTERM: must be killed.
STUBBORN = HEADER + textwrap.dedent("""
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    send(type="hello", protocol=PROTOCOL, backend_version="test")
    for req in requests():
        pass
    while True:
        time.sleep(0.1)
""")

NOISY = HEADER + textwrap.dedent("""
    print("INFO: some native library chatter on stdout")
    print('{"no_type": 1}')
    send(type="hello", protocol=PROTOCOL, backend_version="test")
    for req in requests():
        if req["type"] == "start":
            send(type="done", job_id=req["job_id"], result_path="r.npz", num_people=0,
                 elapsed_s=0, stage_seconds={})
""")


def client_for(script: str, **kw) -> BackendClient:
    return BackendClient([sys.executable, "-c", script], **kw)


def run_until_finished(client: BackendClient, timeout: float = 10.0) -> list[dict]:
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += client.poll()
        if events and events[-1]["type"] in ("done", "error", "cancelled"):
            return events
        time.sleep(0.01)
    raise AssertionError(f"no final event within {timeout}s: {events}")


def wait_for(client: BackendClient, kind: str, timeout: float = 10.0) -> list[dict]:
    """Poll until an event of ``kind`` arrives; "hello" alone may come first on a busy machine."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += client.poll()
        if any(e["type"] == kind for e in events):
            return events
        time.sleep(0.01)
    raise AssertionError(f"no {kind!r} event within {timeout}s: {events}")


def test_good_job_events_in_order(tmp_path: Path) -> None:
    client = client_for(GOOD)
    client.start()
    jid = client.start_job("video.mp4", str(tmp_path), start=0, end=3)
    events = run_until_finished(client)
    kinds = [e["type"] for e in events]
    assert kinds == ["hello", "accepted", "progress", "progress", "progress", "person", "done"]
    assert all(e.get("job_id") == jid for e in events[1:])
    assert not client.job_active
    assert client.shutdown(timeout=5) == 0
    assert [e["type"] for e in client.poll()] in (["bye"], [])


def test_crash_mid_job_gives_error_with_stderr_tail(tmp_path: Path) -> None:
    client = client_for(CRASH)
    client.start()
    jid = client.start_job("video.mp4", str(tmp_path))
    events = run_until_finished(client)
    err = events[-1]
    assert err["type"] == "error" and err["synthetic"] and err["job_id"] == jid
    assert err["returncode"] == 3
    assert "exit code 3" in err["message"]
    assert "RuntimeError: segfault-ish failure" in err["message"]
    assert "segfault-ish" in err["stderr_tail"]
    protocol.validate(err)  # still a valid protocol event for every consumer
    client.shutdown()


def test_exit_before_hello_is_reported() -> None:
    client = BackendClient([sys.executable, "-c",
                            "import sys; sys.stderr.write('No module named genhmr'); sys.exit(1)"])
    client.start()
    events = client.wait_events(10)
    assert events[-1]["type"] == "error"
    assert "before saying hello" in events[-1]["message"]
    assert "No module named genhmr" in events[-1]["message"]


def test_missing_interpreter_raises_oserror() -> None:
    client = BackendClient(["/nonexistent/python", "-m", "genhmr", "serve"])
    with pytest.raises(OSError):
        client.start()


def test_cancel_is_honoured(tmp_path: Path) -> None:
    client = client_for(SLOW)
    client.start()
    client.start_job("v.mp4", str(tmp_path))
    wait_for(client, "progress")
    client.cancel()
    events = run_until_finished(client)
    assert events[-1]["type"] == "cancelled" and not events[-1].get("synthetic")
    t0 = time.monotonic()
    assert client.shutdown(timeout=5) == 0
    assert time.monotonic() - t0 < 3


def test_cancel_ignored_is_killed_and_shutdown_kills(tmp_path: Path) -> None:
    client = client_for(STUBBORN, cancel_timeout=0.5)
    client.start()
    client.start_job("v.mp4", str(tmp_path))
    client.cancel()
    events = run_until_finished(client, timeout=10)
    assert events[-1]["type"] == "cancelled" and events[-1]["synthetic"]
    assert client.shutdown(timeout=0.5) is not None
    assert client.process.returncode is not None

    stubborn = client_for(STUBBORN)
    stubborn.start()
    stubborn.wait_events(5)
    t0 = time.monotonic()
    code = stubborn.shutdown(timeout=0.5)
    assert code is not None and code != 0  # killed
    assert time.monotonic() - t0 < 5


def test_protocol_noise_is_kept_not_fatal(tmp_path: Path) -> None:
    client = client_for(NOISY)
    client.start()
    client.start_job("v.mp4", str(tmp_path))
    events = run_until_finished(client)
    assert events[-1]["type"] == "done"
    assert any("native library chatter" in n for n in client.noise)
    assert any("no_type" in n for n in client.noise)
    client.shutdown()


def test_wrong_protocol_version_fails(tmp_path: Path) -> None:
    script = HEADER + "send(type='hello', protocol=99, backend_version='x')\ntime.sleep(30)\n"
    client = client_for(script)
    client.start()
    client.start_job("v.mp4", str(tmp_path))
    events = run_until_finished(client)
    assert events[-1]["type"] == "error" and "protocol 99" in events[-1]["message"]
    assert client.shutdown(timeout=2) is not None


def test_analysis_job_state(tmp_path: Path) -> None:
    job = AnalysisJob(client_for(GOOD), "video.mp4", str(tmp_path), {"start": 0, "end": 3})
    job.start()
    deadline = time.monotonic() + 10
    while not job.poll().finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.state.finished == "done"
    assert job.state.fraction == 1.0 and job.state.people == 1
    assert job.state.result_path.endswith("result.npz")
    job.close()


def test_overall_fraction_is_monotonic() -> None:
    seq = [("load", 1, 1), ("detect", 0, 10), ("detect", 5, 10), ("detect", 10, 10),
           ("track", 1, 1), ("fit", 1, 2), ("fit", 2, 2), ("save", 1, 1)]
    fr = [overall_fraction(*s) for s in seq]
    assert fr == sorted(fr) and fr[-1] == pytest.approx(1.0)
    assert overall_fraction("unknown", 1, 1) < 0


def test_find_backend_python_order(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.write_text("")
    venv_py = backend_env.venv_python(tmp_path / "user" / backend_env.VENV_DIRNAME)
    venv_py.parent.mkdir(parents=True)
    venv_py.write_text("")
    env = {"GENHMR_PYTHON": str(a)}
    assert backend_env.find_backend_python("", None, env) == (str(a), "$GENHMR_PYTHON")
    assert backend_env.find_backend_python("", str(tmp_path / "user"), {})[1] == "set-up venv"
    with pytest.raises(backend_env.BackendNotConfigured, match="does not exist"):
        backend_env.find_backend_python(str(tmp_path / "missing"), None, env)
    with pytest.raises(backend_env.BackendNotConfigured, match="Set up backend"):
        backend_env.find_backend_python("", None, {})


def test_serve_env_replaces_pythonpath() -> None:
    env = backend_env.serve_env({"PYTHONPATH": "/blender/python", "PYTHONHOME": "/x", "A": "1"})
    root = backend_env.extension_root()
    assert env["PYTHONPATH"].split(os.pathsep) == [str(root), str(root / "backend")]
    assert "PYTHONHOME" not in env and env["A"] == "1"


def test_install_command_is_accepted_by_installer(tmp_path: Path) -> None:
    """The "Set up backend" command line parses (``--print-hash`` exits before installing)."""
    import subprocess

    for build, index in (("auto", ""), ("cpu", "https://example.invalid/cpu"), ("cuda", "")):
        cmd = backend_env.install_command(sys.executable, tmp_path / "venv", "", build,
                                          index) + ["--print-hash"]
        assert cmd[cmd.index("--torch") + 1] == build
        assert ("--torch-index" in cmd) == bool(index)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env=backend_env.child_env_for_installer())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip()
