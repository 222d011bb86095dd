"""One analysis job as a small state machine over backend events (no ``bpy``).

The modal operator (timer) and the blocking ``execute`` path both feed :meth:`AnalysisJob.poll`
results into the same code, so headless scripts exercise exactly what artists run.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from .backend_client import BackendClient, Event

# Share of the progress bar per backend stage; detection dominates the run time.
STAGE_WEIGHTS: dict[str, float] = {"load": 0.05, "decode": 0.05, "detect": 0.65, "track": 0.02,
                                   "camera": 0.05, "fit": 0.15, "save": 0.03}
# The same for a ``refine`` request (re-running refinement on a range), a ``merge`` (its
# joined track solved again: the same stages), a ``split`` and a ``drop`` (load and save).
REFINE_STAGE_WEIGHTS: dict[str, float] = {"load": 0.15, "refine": 0.7, "save": 0.15}
# A ``resample`` request: stage 1's draws, then one refinement per alternative.
RESAMPLE_STAGE_WEIGHTS: dict[str, float] = {"load": 0.05, "sample": 0.15, "refine": 0.75,
                                            "save": 0.05}
STAGE_LABELS: dict[str, str] = {"load": "Loading", "decode": "Reading video",
                                "detect": "Detecting people", "track": "Tracking",
                                "camera": "Camera motion", "fit": "Fitting bodies",
                                "refine": "Refining", "sample": "Sampling", "save": "Saving"}


@dataclasses.dataclass
class JobState:
    """What the UI shows; ``finished`` becomes one of done / error / cancelled."""

    fraction: float = 0.0
    status: str = "Starting the backend..."
    finished: str = ""
    result_path: str = ""
    error: str = ""
    people: int = 0
    elapsed_s: float = 0.0
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    revision: int | None = None  # the job folder's revision the job made (``done``)
    # a ``resample``'s alternatives as its ``done`` lists them (result_path, distance_mm, ...)
    alternatives: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    done: dict[str, Any] = dataclasses.field(default_factory=dict)  # the ``done`` event


def overall_fraction(stage: str, done: float, total: float,
                     weights: dict[str, float] = STAGE_WEIGHTS) -> float:
    """Map a stage's own done/total onto the whole job's 0..1 progress bar."""
    order = list(weights)
    if stage not in weights:
        return -1.0
    before = sum(weights[s] for s in order[:order.index(stage)])
    local = min(max(done / total, 0.0), 1.0) if total else 0.0
    return min(before + weights[stage] * local, 1.0)


class AnalysisJob:
    """Runs one ``start`` request on a :class:`BackendClient` and tracks its state."""

    weights = STAGE_WEIGHTS

    def __init__(self, client: BackendClient, video: str, out_dir: str,
                 options: dict[str, Any]) -> None:
        self.client = client
        self.video = video
        self.out_dir = out_dir
        self.options = options
        self.state = JobState()
        self.events: list[Event] = []  # everything seen, for logs and tests
        self._t0 = 0.0

    def start(self) -> None:
        """Spawn the backend and queue the job (raises OSError if the interpreter won't run)."""
        self._t0 = time.monotonic()
        self.client.start()
        self.client.start_job(self.video, self.out_dir, **self.options)

    def cancel(self) -> None:
        self.state.status = "Cancelling..."
        self.client.cancel()

    def poll(self) -> JobState:
        """Drain events and update :attr:`state`; cheap enough for a 0.1 s timer."""
        for event in self.client.poll():
            self.events.append(event)
            self._apply(event)
        self.state.elapsed_s = time.monotonic() - self._t0
        return self.state

    def _apply(self, event: Event) -> None:
        st = self.state
        if st.finished:
            return
        kind = event["type"]
        if kind == "hello":
            st.status = f"Backend {event.get('backend_version', '?')} started"
        elif kind == "accepted":
            st.status = "Job accepted"
        elif kind == "progress":
            frac = overall_fraction(event["stage"], float(event["done"]), float(event["total"]),
                                    self.weights)
            if frac >= 0:
                st.fraction = max(st.fraction, frac)
            label = STAGE_LABELS.get(event["stage"], str(event["stage"]).capitalize())
            count = f" {event['done']}/{event['total']}" if event["total"] > 1 else ""
            msg = event.get("message") or ""
            st.status = f"{label}{count}" + (f": {msg}" if msg else "")
        elif kind == "person":
            st.people += 1
        elif kind == "done":
            st.finished = "done"
            st.done = dict(event)
            st.fraction = 1.0
            st.result_path = str(event["result_path"])
            st.people = int(event.get("num_people", st.people))
            st.stage_seconds = dict(event.get("stage_seconds", {}))
            revision = event.get("revision")
            st.revision = revision if isinstance(revision, int) else None
            listed = event.get("alternatives")
            st.alternatives = [dict(a) for a in listed if isinstance(a, dict)] \
                if isinstance(listed, list) else []
            who = "1 person" if st.people == 1 else f"{st.people} people"
            st.status = f"Done: {who} in {float(event['elapsed_s']):.1f} s"
        elif kind == "cancelled":
            st.finished = "cancelled"
            st.status = "Cancelled"
        elif kind == "error":
            st.finished = "error"
            st.error = str(event.get("message", "unknown backend error"))
            st.status = "Error: " + st.error.splitlines()[0] if st.error else "Error"

    def close(self, timeout: float = 5.0) -> None:
        """Stop the backend process (it holds models in memory; one job per process here)."""
        self.client.shutdown(timeout=timeout)


class RefineJob(AnalysisJob):
    """Runs one ``refine`` request on a warm :class:`BackendClient` (started if it is not),
    which stays up afterwards for the next re-run; same states as an analysis. Like every edit
    of the job folder it starts from ``revision``, the folder revision the scene shows."""

    weights = REFINE_STAGE_WEIGHTS
    revision: int | None = None

    def __init__(self, client: BackendClient, job_dir: str, person: int, frame_start: int,
                 frame_end: int, options: dict[str, Any], revision: int | None = None
                 ) -> None:
        super().__init__(client, "", job_dir, options)
        self.person, self.frame_start, self.frame_end = person, frame_start, frame_end
        self.revision = revision

    def start(self) -> None:
        self._t0 = time.monotonic()
        if self.client.process.proc is None:
            self.client.start()
        self._send()

    def _send(self) -> None:
        """Send this job's request on the started client."""
        self.state.status = "Re-running refinement"
        self.client.refine_job(self.out_dir, self.person, self.frame_start, self.frame_end,
                               revision=self.revision, **self.options)

    def close(self, timeout: float = 5.0) -> None:
        """Nothing: the backend stays warm for the next re-run (``warm.shutdown`` stops it)."""


class MergeJob(RefineJob):
    """Runs one ``merge`` request (two people of a finished job who are one, solved again) on
    the warm :class:`BackendClient`, like a re-run."""

    def __init__(self, client: BackendClient, job_dir: str, keep: int, other: int,
                 revision: int | None = None) -> None:
        AnalysisJob.__init__(self, client, "", job_dir, {})  # no person, range or options
        self.keep, self.other, self.revision = keep, other, revision

    def _send(self) -> None:
        self.state.status = "Merging and solving again"
        self.client.merge_job(self.out_dir, self.keep, self.other, revision=self.revision)


class SplitJob(RefineJob):
    """Runs one ``split`` request (a person of a finished job cut in two at a video frame) on
    the warm :class:`BackendClient`."""

    def __init__(self, client: BackendClient, job_dir: str, person: int, frame: int,
                 new_person: int | None, revision: int | None = None) -> None:
        AnalysisJob.__init__(self, client, "", job_dir, {})
        self.person, self.frame, self.new_person = person, frame, new_person
        self.revision = revision

    def _send(self) -> None:
        self.state.status = "Splitting the person in the analysis"
        self.client.split_job(self.out_dir, self.person, self.frame, self.new_person,
                              revision=self.revision)


class DropJob(RefineJob):
    """Runs one ``drop`` request (a person, a ghost, removed from a finished job) on the warm
    :class:`BackendClient`."""

    def __init__(self, client: BackendClient, job_dir: str, person: int,
                 revision: int | None = None) -> None:
        AnalysisJob.__init__(self, client, "", job_dir, {})
        self.person, self.revision = person, revision

    def _send(self) -> None:
        self.state.status = "Removing the person from the analysis"
        self.client.drop_job(self.out_dir, self.person, revision=self.revision)


class ResampleJob(RefineJob):
    """Runs one ``resample`` request (alternatives for a range of one person, kept beside the
    job) on the warm :class:`BackendClient`."""

    weights = RESAMPLE_STAGE_WEIGHTS

    def _send(self) -> None:
        self.state.status = "Sampling alternatives"
        self.client.resample_job(self.out_dir, self.person, self.frame_start, self.frame_end,
                                 revision=self.revision, **self.options)


class AcceptJob(RefineJob):
    """Runs one ``accept`` request (an alternative made the job's motion, a new revision) on
    the warm :class:`BackendClient`."""

    def __init__(self, client: BackendClient, job_dir: str, alternative: int, set_id: str,
                 revision: int | None = None) -> None:
        AnalysisJob.__init__(self, client, "", job_dir, {})
        self.alternative, self.set_id, self.revision = alternative, set_id, revision

    def _send(self) -> None:
        self.state.status = "Keeping the alternative"
        self.client.accept_job(self.out_dir, self.alternative, self.set_id,
                               revision=self.revision)
