"""The real backend process (``python -m genhmr serve``) driven over its JSON-lines protocol."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from genhmr_core import protocol

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class Backend:
    """A ``genhmr serve`` subprocess with a reader thread; every stdout line must be protocol."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "backend")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "genhmr", "serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, bufsize=1)
        self.events: queue.Queue[dict] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(protocol.decode(line))  # raises on any non-protocol output

    def send(self, message: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(protocol.encode(message))
        self.proc.stdin.flush()

    def next(self, timeout: float = 120.0) -> dict:
        return self.events.get(timeout=timeout)

    def until(self, *types: str, timeout: float = 180.0) -> tuple[dict, list[dict]]:
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(timeout=max(deadline - time.monotonic(), 0.1))
            seen.append(event)
            if event["type"] in types:
                return event, seen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def test_job_lifecycle_and_shutdown(backend: Backend, media_dir: Path, tmp_path: Path):
    hello = backend.next(timeout=60)
    assert hello["type"] == "hello" and hello["protocol"] == protocol.PROTOCOL_VERSION
    backend.send(protocol.start_request("j1", str(media_dir / "demo.mp4"), str(tmp_path),
                                        start=30, end=40))
    done, seen = backend.until("done", "error")
    assert done["type"] == "done", done
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "accepted" and "progress" in kinds and "person" in kinds
    assert all(e.get("job_id") == "j1" for e in seen)
    assert Path(done["result_path"]).is_file() and done["num_people"] >= 1
    assert set(done["stage_seconds"]) >= {"detect", "fit"}

    backend.send({"type": "start", "job_id": "j2", "video": str(tmp_path / "nope.mp4"),
                  "out_dir": str(tmp_path)})
    error, _ = backend.until("error", "done")
    assert error["type"] == "error" and error["kind"] == "video" and "not found" in error["message"]

    backend.send({"type": "shutdown"})
    bye, _ = backend.until("bye", timeout=30)
    assert bye["type"] == "bye"
    assert backend.proc.wait(timeout=30) == 0


def test_cancel_mid_job_then_serve_again(backend: Backend, media_dir: Path, tmp_path: Path):
    backend.until("hello", timeout=60)
    backend.send(protocol.start_request("long", str(media_dir / "demo.mp4"), str(tmp_path)))
    backend.until("progress")
    # A second start while busy is refused, the running job is untouched.
    backend.send(protocol.start_request("other", str(media_dir / "demo.mp4"), str(tmp_path)))
    busy, _ = backend.until("error")
    assert busy["kind"] == "busy" and busy["job_id"] == "other"
    backend.send({"type": "cancel", "job_id": "long"})
    cancelled, _ = backend.until("cancelled", "done", "error", timeout=60)
    assert cancelled == {"type": "cancelled", "job_id": "long"}
    assert not (tmp_path / "result.npz").exists()
    # Garbage is reported, not fatal.
    assert backend.proc.stdin is not None
    backend.proc.stdin.write("this is not json\n")
    backend.proc.stdin.flush()
    error, _ = backend.until("error")
    assert error["kind"] == "protocol"


def test_closing_stdin_ends_the_process(backend: Backend):
    backend.until("hello", timeout=60)
    assert backend.proc.stdin is not None
    backend.proc.stdin.close()
    assert backend.proc.wait(timeout=30) == 0


def test_cli_run_reports_bad_input_with_exit_status_2(tmp_path: Path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "backend")]))
    proc = subprocess.run([sys.executable, "-m", "genhmr", "run", str(bad), "--out",
                           str(tmp_path / "out"), "--quiet"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 2
    assert "cannot open video" in proc.stderr
    assert not (tmp_path / "out" / "result.npz").exists()


def test_merge_solves_two_pieces_of_one_person_again(backend: Backend, media_dir: Path,
                                                       tmp_path: Path):
    """A finished job's person cut into two pieces with frames between them that nobody is seen
    in (``split`` twice and ``drop``: bad ones refused, the folder unchanged), then ``merge``:
    one person again, solved over the whole span, the gap bridged; cancel and bad requests
    change nothing."""
    import hashlib

    import numpy as np
    from genhmr import job_store

    from genhmr_core.result_format import load_result

    def digest() -> dict[str, str]:
        return {str(p.relative_to(job)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(job.rglob("*")) if p.is_file()}  # its revisions included

    backend.until("hello", timeout=60)
    job = tmp_path / "job"
    backend.send(protocol.start_request("analysis", str(media_dir / "demo.mp4"), str(job),
                                        start=30, end=42))
    done, _ = backend.until("done", "error")
    assert done["type"] == "done", done
    whole = load_result(done["result_path"])
    p = int(whole.valid.sum(1).argmax())
    track = int(whole.track_ids[p])
    seen = whole.frame_indices[whole.valid[p]]
    cut, resume = int(seen[3]), int(seen[3]) + 4  # video frames cut..resume-1: nobody
    middle = int(whole.track_ids.max()) + 1

    def refused(request: dict, kind: str, text: str) -> None:
        """The backend answers ``request`` with an error of ``kind`` that says ``text``."""
        backend.send(request)
        error, _ = backend.until("error", "done")
        assert error["type"] == "error" and error["kind"] == kind, error
        assert text in error["message"] and error["job_id"] == request["job_id"]

    # The cut made with the protocol's split and drop (the add-on's Split and Delete).
    state = digest()
    for request, kind, text in (
            (protocol.split_request("s0", str(job), 99, cut), "job", "no person 99"),
            (protocol.split_request("s1", str(job), track, int(seen[0])), "job",
             "not seen both before and from"),
            ({**protocol.split_request("s2", str(job), track, cut), "frame": 3.5}, "job",
             "frame must be a video frame"),
            (protocol.split_request("s3", str(job), track, cut, new_person=track), "job",
             f"already has a person {track}"),
            (protocol.drop_request("d0", str(job), 99), "job", "no person 99"),
            (protocol.drop_request("d1", str(tmp_path / "gone"), track), "job_folder",
             "does not exist")):
        refused(request, kind, text)
    assert digest() == state
    backend.send(protocol.split_request("s4", str(job), track, cut))
    done, events = backend.until("done", "error")
    assert done["type"] == "done" and events[0]["type"] == "accepted", done
    assert (done["person"], done["frame"], done["new_person"]) == (track, cut, middle)
    assert done["people"] == [*whole.track_ids.tolist(), middle]
    backend.send(protocol.split_request("s5", str(job), middle, resume, new_person=middle + 1))
    done, _ = backend.until("done", "error")
    assert done["type"] == "done" and done["new_person"] == middle + 1, done
    backend.send(protocol.drop_request("d2", str(job), middle))
    done, _ = backend.until("done", "error")
    assert done["type"] == "done" and done["person"] == middle, done
    assert done["people"] == [*whole.track_ids.tolist(), middle + 1]
    assert load_result(done["result_path"]).track_ids.tolist() == done["people"]
    assert [len(t) for t in (job_store.load_tracks(job).valid, job_store.load_stage1(job))] \
        == [len(done["people"])] * 2
    later = middle + 1
    pieces = load_result(job / job_store.RESULT_FILE)
    a, b = (int(np.flatnonzero(pieces.track_ids == t)[0]) for t in (track, later))
    gap = (pieces.frame_indices >= cut) & (pieces.frame_indices < resume)
    assert not (pieces.valid[a] | pieces.valid[b])[gap].any()

    # Cancelled at once, or refused: the job folder stays as it was.
    state = digest()
    backend.send(protocol.merge_request("m0", str(job), track, later))
    backend.send({"type": "cancel", "job_id": "m0"})
    cancelled, _ = backend.until("cancelled", "done", "error")
    assert cancelled == {"type": "cancelled", "job_id": "m0"}
    for request, kind, text in (
            (protocol.merge_request("m1", str(job), track, 99), "job", "no person 99"),
            ({"type": "merge", "job_id": "m2", "job_dir": str(job), "keep": "zero",
              "other": later}, "job", "keep must be a track id"),
            (protocol.merge_request("m3", str(tmp_path / "gone"), track, later), "job_folder",
             "does not exist")):
        refused(request, kind, text)
    assert digest() == state

    backend.send(protocol.merge_request("m4", str(job), track, later))
    done, events = backend.until("done", "error")
    assert done["type"] == "done", done
    assert events[0] == {"type": "accepted", "job_id": "m4"}
    assert [e["stage"] for e in events if e["type"] == "progress"][-1] == "save"
    assert done["keep"] == track and done["other"] == later
    assert done["people"] == [t for t in pieces.track_ids.tolist() if t != later]
    assert (done["frame_start"], done["frame_end"]) == (int(seen[0]), int(seen[-1]))
    assert set(done["stage_seconds"]) == {"load", "refine", "save"}
    merged = load_result(done["result_path"])
    q = done["people"].index(track)
    assert merged.num_people == done["num_people"] == pieces.num_people - 1
    # seen where either piece was seen; the gap solved over (one span of stage 1), not seen
    assert np.array_equal(merged.valid[q], pieces.valid[a] | pieces.valid[b])
    span = np.flatnonzero(merged.valid[q])
    assert job_store.load_stage1(job)[q].span == (int(span[0]), int(span[-1]) + 1)
    # the gap holds motion joining the pieces: no jump of the pelvis into or out of it
    pelvis = merged.joints3d[q, span[0]:span[-1] + 1, 0]
    assert np.isfinite(pelvis).all()
    steps = np.linalg.norm(np.diff(pelvis, axis=0), axis=-1)
    assert steps.max() <= 3 * np.median(steps) + 0.01, steps
