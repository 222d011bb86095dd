"""The backend process behind the Blender add-on: JSON-lines requests in, events out.

``python -m genhmr serve`` reads requests (``genhmr_core.protocol``) on stdin and writes events on
stdout; stdout carries protocol lines only (logs and third-party chatter go to stderr, see
:func:`_protect_stdout`). One job runs at a time in a worker thread so the reader stays free to
take ``cancel`` and ``shutdown``. A job is a whole analysis (``start``), a re-run of refinement
on part of a finished job (``refine``), two people of a finished job merged into one and
solved again (``merge``, :func:`genhmr.people_edits.merge_people`), or a person of a finished job
split in two or dropped (``split``, ``drop``: quick rewrites of the job folder, jobs all the same
so the add-on handles every edit alike and the folder has one writer), alternatives for part of
a person's track sampled beside the job (``resample``) or one of them accepted (``accept``,
:mod:`genhmr.alternatives`). Each edit starts from the
job folder's revision its request names and its ``done`` names the revision it made
(``genhmr.job_store.edit_at``), so undo in Blender reaches the folder. The body and generative
models stay loaded between jobs (:class:`~genhmr.pipeline.Models`), so an artist's re-runs and
merges pay no start-up.
When stdin closes (Blender quit or crashed) the running job is cancelled and the process exits,
so no orphan keeps burning CPU.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from typing import IO, Any

from genhmr import __version__
from genhmr_core import protocol

from .pipeline import JobCancelled, JobError, JobOptions, Models, Progress, run_job

log = logging.getLogger(__name__)


class EventWriter:
    """Thread-safe writer of protocol events to a text stream."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = protocol.encode(message)
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # the add-on went away; nothing to tell
                pass


class _Job(threading.Thread):
    def __init__(self, request: dict[str, Any], events: EventWriter, models: Models) -> None:
        super().__init__(name=f"job-{request['job_id']}", daemon=True)
        self.job_id = str(request["job_id"])
        self.request = request
        self.events = events
        self.models = models
        self.stop_event = threading.Event()
        # Set just before the job's last event goes out: a client that reacts to ``done`` by
        # starting the next job must not find this one "busy" while its thread winds down.
        self.finished = threading.Event()

    def run(self) -> None:
        event = self._outcome()
        self.finished.set()
        self.events.send(event)

    def _outcome(self) -> dict[str, Any]:
        """Run the job; its terminal event (done, cancelled or error)."""
        job_id = self.job_id
        try:
            if self.request["type"] in protocol.EDIT_REQUESTS:
                _revision(self.request)  # a bad one is the client's mistake, said first
            if self.request["type"] == "refine":
                return self._refine()
            if self.request["type"] == "resample":
                return self._resample()
            if self.request["type"] == "accept":
                return self._accept()
            if self.request["type"] == "merge":
                return self._merge()
            if self.request["type"] in ("split", "drop"):
                return self._split_or_drop()
            options = JobOptions.from_request(self.request)
            summary = run_job(options, progress=self._progress,
                              should_stop=self.stop_event.is_set, on_person=self._person,
                              models=self.models)
        except JobCancelled:
            return {"type": "cancelled", "job_id": job_id}
        except JobError as exc:
            return {"type": "error", "job_id": job_id, "message": str(exc), "kind": exc.kind}
        except Exception as exc:  # a bug: keep the process alive, give the add-on the cause
            trace = traceback.format_exc()
            print(trace, file=sys.stderr)
            return {"type": "error", "job_id": job_id, "kind": "internal",
                    "message": f"internal error: {type(exc).__name__}: {exc}",
                    "traceback": trace[-4000:]}
        return {"type": "done", "job_id": job_id, "result_path": str(summary.result_path),
                "num_people": summary.num_people, "num_frames": summary.num_frames,
                "elapsed_s": round(summary.elapsed_s, 3),
                "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()},
                "reprojection_px": [round(v, 2) for v in summary.reprojection_px],
                "revision": 0}

    def _refine(self) -> dict[str, Any]:
        """A ``refine`` request (errors are turned into events by :meth:`_outcome`)."""
        from .rerun import RefineOptions, refine_range

        summary = refine_range(RefineOptions.from_request(self.request), self.models,
                               progress=self._progress, should_stop=self.stop_event.is_set)
        return {"type": "done", "job_id": self.job_id, "result_path": str(summary.result_path),
                "num_people": summary.result.num_people, "person": summary.person,
                "frame_start": summary.frame_start, "frame_end": summary.frame_end,
                "elapsed_s": round(summary.elapsed_s, 3),
                "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()},
                "reprojection_px": [round(summary.reprojection_px, 2)],
                "revision": summary.revision}

    def _resample(self) -> dict[str, Any]:
        """A ``resample`` request: alternatives kept beside the job, which is not changed
        (errors are turned into events by :meth:`_outcome`)."""
        from .alternatives import ResampleOptions, resample_range

        options = ResampleOptions.from_request(self.request)
        summary = resample_range(options, self.models, progress=self._progress,
                                 should_stop=self.stop_event.is_set)
        info = summary.info
        return {"type": "done", "job_id": self.job_id,
                "result_path": str(summary.result_paths[0]), "num_people": 0,
                "set": summary.set_id,
                "person": info.person, "frame_start": info.frame_start,
                "frame_end": info.frame_end, "elapsed_s": round(summary.elapsed_s, 3),
                "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()},
                "alternatives": [{"result_path": str(path), "distance_mm": c.distance_mm,
                                  "largest_mm": c.largest_mm,
                                  "reprojection_px": c.reprojection_px}
                                 for path, c in zip(summary.result_paths, info.candidates,
                                                    strict=True)],
                "revision": info.base_revision}

    def _accept(self) -> dict[str, Any]:
        """An ``accept`` request: a quick rewrite of the job folder, no solve."""
        from .alternatives import accept_alternative

        index = _track_id(self.request, "alternative", "an alternative's number")
        set_id = self.request.get("set")
        if set_id is not None and not isinstance(set_id, str):
            raise JobError(f"set must name a set of alternatives (a string), got {set_id!r}")
        self._progress(Progress("load", 0, 1, 0.0, "reading the alternatives"))
        summary = accept_alternative(str(self.request["job_dir"]), index, set_id,
                                     revision=_revision(self.request))
        self._progress(Progress("save", 1, 1, summary.elapsed_s, str(summary.result_path)))
        return {"type": "done", "job_id": self.job_id, "result_path": str(summary.result_path),
                "num_people": summary.num_people, "person": summary.person,
                "frame_start": summary.frame_start, "frame_end": summary.frame_end,
                "alternative": index, "elapsed_s": round(summary.elapsed_s, 3),
                "stage_seconds": {}, "revision": summary.revision}

    def _merge(self) -> dict[str, Any]:
        """A ``merge`` request (errors are turned into events by :meth:`_outcome`)."""
        from .people_edits import merge_people

        keep, other = (_track_id(self.request, name) for name in ("keep", "other"))
        summary = merge_people(str(self.request["job_dir"]), keep, other, self.models,
                               progress=self._progress, should_stop=self.stop_event.is_set,
                               revision=_revision(self.request))
        result = summary.result
        p = summary.people.index(keep)
        seen = result.frame_indices[result.valid[p]]
        return {"type": "done", "job_id": self.job_id, "result_path": str(summary.result_path),
                "num_people": result.num_people, "keep": keep, "other": other,
                "people": summary.people, "frame_start": int(seen[0]),
                "frame_end": int(seen[-1]), "elapsed_s": round(summary.elapsed_s, 3),
                "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()},
                "revision": summary.revision}

    def _split_or_drop(self) -> dict[str, Any]:
        """A ``split`` or ``drop`` request: the job folder's people divided or one removed, no
        solve (errors are turned into events by :meth:`_outcome`)."""
        from .people_edits import drop_person, split_person

        person = _track_id(self.request, "person")
        job_dir = str(self.request["job_dir"])
        revision = _revision(self.request)
        self._progress(Progress("load", 0, 1, 0.0, "reading the job folder"))
        extra: dict[str, Any] = {"person": person}
        if self.request["type"] == "split":
            frame = _track_id(self.request, "frame", "a video frame")
            new = self.request.get("new_person")
            new = None if new is None else _track_id(self.request, "new_person")
            summary = split_person(job_dir, person, frame, new,
                                   should_stop=self.stop_event.is_set, revision=revision)
            extra.update(frame=frame, new_person=summary.people[-1])
        else:
            summary = drop_person(job_dir, person, should_stop=self.stop_event.is_set,
                                  revision=revision)
        self._progress(Progress("save", 1, 1, summary.elapsed_s, str(summary.result_path)))
        return {"type": "done", "job_id": self.job_id, "result_path": str(summary.result_path),
                "num_people": summary.result.num_people, "people": summary.people, **extra,
                "elapsed_s": round(summary.elapsed_s, 3), "stage_seconds": {},
                "revision": summary.revision}

    def _progress(self, p: Progress) -> None:
        self.events.send({"type": "progress", "job_id": self.job_id, "stage": p.stage,
                          "done": p.done, "total": p.total, "elapsed_s": round(p.elapsed_s, 3),
                          "message": p.message})

    def _person(self, track_id: int, frames: int) -> None:
        self.events.send({"type": "person", "job_id": self.job_id, "track_id": track_id,
                          "frames": frames})


def _track_id(request: dict[str, Any], name: str, what: str = "a track id") -> int:
    """A request's track id (or frame) field; anything but a whole number is the client's
    mistake."""
    value = request[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobError(f"{name} must be {what} (a whole number), got {value!r}")
    return value


def _revision(request: dict[str, Any]) -> int | None:
    """The job folder revision an edit request names (None: the folder's current one)."""
    try:
        return protocol.request_revision(request)
    except protocol.ProtocolError as exc:
        raise JobError(f"revision must be a whole number from 0 or null: {exc}") from exc


def serve(stdin: IO[str], stdout: IO[str]) -> int:
    """Serve requests until ``shutdown`` or end of input; returns the process exit status."""
    events = EventWriter(stdout)
    events.send({"type": "hello", "protocol": protocol.PROTOCOL_VERSION,
                 "backend_version": __version__, "pid": os.getpid()})
    job: _Job | None = None
    models = Models()
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = protocol.decode(line)
            if request["type"] not in protocol.REQUEST_TYPES:
                raise protocol.ProtocolError(f"{request['type']!r} is an event, not a request")
        except protocol.ProtocolError as exc:
            events.send({"type": "error", "kind": "protocol", "message": str(exc)})
            continue
        kind = request["type"]
        if kind in protocol.JOB_REQUESTS:
            if job is not None and not job.finished.is_set():
                events.send({"type": "error", "job_id": request["job_id"], "kind": "busy",
                             "message": f"job {job.job_id} is still running; cancel it first"})
                continue
            job = _Job(request, events, models)
            events.send({"type": "accepted", "job_id": job.job_id})
            job.start()
        elif kind == "cancel":
            if (job is not None and job.job_id == str(request["job_id"])
                    and not job.finished.is_set()):
                job.stop_event.set()
            else:
                events.send({"type": "error", "job_id": request["job_id"], "kind": "protocol",
                             "message": "no such running job"})
        elif kind == "shutdown":
            break
    if job is not None and job.is_alive():
        job.stop_event.set()
        job.join(timeout=10.0)
    events.send({"type": "bye"})
    return 0


def _protect_stdout() -> IO[str]:
    """Keep a private handle on the real stdout for protocol lines and point file descriptor 1
    at stderr, so prints from native libraries (MediaPipe, TFLite) cannot corrupt the stream."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[genhmr %(levelname)s] %(message)s")
    out = _protect_stdout()
    return serve(sys.stdin, out)
