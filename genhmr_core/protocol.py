"""The JSON-lines protocol between the Blender add-on and the backend process.

One JSON object per line, UTF-8. The add-on writes *requests* to the backend's stdin; the backend
writes *events* to its stdout (and nothing else: logs go to stderr). Every message has a
``type``; every event about a job carries its ``job_id``. The full description with examples is
in ``docs/protocol.md``.

Requests: ``start`` (a job), ``refine`` (re-run refinement on a frame range of one person of a
finished job), ``merge`` (two people of a finished job who are one: their tracks joined and
solved again), ``split`` (a person of a finished job cut in two at a frame), ``drop`` (a person
removed from a finished job), ``resample`` (alternatives for a frame range of one person, kept
beside the job without changing it), ``accept`` (one of them made the job's motion),
``cancel`` (a job or any of these edits), ``shutdown``.
Events: ``hello`` (on start-up), ``accepted``, ``progress``, ``person``, ``done``, ``cancelled``,
``error``, ``bye``.

The requests that edit a finished job carry ``revision``, the job folder's revision the scene's
rigs show (``genhmr_core.job_revisions``): the backend first brings the folder to it, so undo
and redo in Blender reach the analysis; their ``done`` names the revision the edit made.
"""

from __future__ import annotations

import json
from typing import Any

# 2: the ``refine`` request; 3: the ``merge`` request; 4: the ``split`` and ``drop`` requests
# (an add-on that sends one must not meet a backend that would call it an unknown type);
# 5: ``revision`` on the edit requests and their ``done`` (a backend that ignored it would
# edit the folder's newest state, not the one the scene shows after an undo); 6: the
# ``resample`` and ``accept`` requests.
PROTOCOL_VERSION = 6

# Requests that run a job (answered by ``accepted``, then ``done``, ``error`` or ``cancelled``).
JOB_REQUESTS = frozenset({"start", "refine", "merge", "split", "drop", "resample", "accept"})
# The requests that change or read a finished job at a revision the scene names.
EDIT_REQUESTS = frozenset({"refine", "merge", "split", "drop", "resample", "accept"})
REQUEST_TYPES = JOB_REQUESTS | {"cancel", "shutdown"}
EVENT_TYPES = frozenset(
    {"hello", "accepted", "progress", "person", "done", "cancelled", "error", "bye"})

# Required fields (besides "type") for each message type.
REQUIRED: dict[str, tuple[str, ...]] = {
    "start": ("job_id", "video", "out_dir"),
    "refine": ("job_id", "job_dir", "person", "frame_start", "frame_end"),
    "merge": ("job_id", "job_dir", "keep", "other"),
    "split": ("job_id", "job_dir", "person", "frame"),
    "drop": ("job_id", "job_dir", "person"),
    "resample": ("job_id", "job_dir", "person", "frame_start", "frame_end"),
    "accept": ("job_id", "job_dir", "alternative"),
    "cancel": ("job_id",),
    "shutdown": (),
    "hello": ("protocol", "backend_version"),
    "accepted": ("job_id",),
    "progress": ("job_id", "stage", "done", "total", "elapsed_s"),
    "person": ("job_id", "track_id", "frames"),
    "done": ("job_id", "result_path", "num_people", "elapsed_s", "stage_seconds"),
    "cancelled": ("job_id",),
    "error": ("message",),
    "bye": (),
}

# Refinement steps of the generative method, chosen on the held-out benchmark
# (docs/generative.md); the backend's RefinementConfig and the add-on's panel default to it.
DEFAULT_REFINE_STEPS = 50
# Detector keypoints less confident than this are ignored by refinement.
DEFAULT_KEYPOINT_CONFIDENCE = 0.05

# Job options a ``start`` request may carry, with their defaults.
START_DEFAULTS: dict[str, Any] = {
    "start": 0,  # first video frame (0-based, inclusive)
    "end": None,  # last video frame (exclusive); None = to the end
    "device": "auto",  # auto | cpu | cuda
    "method": "generative",  # 3D body method: generative | fit (the model-free baseline)
    "checkpoint": "",  # generative model checkpoint; empty = the shipped default
    "refine_steps": DEFAULT_REFINE_STEPS,  # generative refinement steps; 0 = sampling only
    "smplx_dir": "",  # folder with SMPL-X model files; empty = the license-free default body
    "smplx_gender": "neutral",  # neutral | male | female: which SMPL-X model file
    "estimate_shape": True,  # per-person shape from bone lengths; False = the average body
    "focal_px": None,  # focal length in pixels; None = lens_35mm, else 60 degrees across the
    # longer side
    "lens_35mm": None,  # the lens as a 35 mm-equivalent focal length (mm), used without focal_px
    "person_height_m": None,  # the main person's standing height (m), the others scaled with
    # them; None = from their bone lengths and the floor they share
    "tiling": "auto",  # small-person handling of the detector: auto | on | off
    "max_people": 6,
    "camera_motion": True,  # estimate the camera's pan/tilt/roll; False = a fixed camera
    "pose_smoothing_s": 1 / 30,  # smooth each body joint's rotation over time (Gaussian
    # sigma, seconds): the refined pose's frame-to-frame tremor; 0 = off
    "depth_smoothing_s": 0.3,  # smooth each person's depth over time (Gaussian sigma); 0 = off
    "foot_locking": True,  # pin planted feet in the world (leg IK); False = as solved
    "contact_threshold": 0.5,  # a foot is planted where its contact probability reaches this
}


# Options a ``refine`` request may carry; None keeps the job's own setting.
REFINE_DEFAULTS: dict[str, Any] = {
    "steps": None,  # refinement steps
    "smoothing": None,  # temporal smoothness relative to the job's (2 = twice as smooth)
    "min_confidence": None,  # keypoints below this detector confidence are ignored
    "keep_joints": [],  # body joint names whose rotations stay as they are (hand-edited bones)
    "blend_frames": 3,  # frames at each end of the range that fade from the old motion
}

# Options a ``resample`` request may carry.
RESAMPLE_DEFAULTS: dict[str, Any] = {
    "count": 4,  # alternatives offered (1-8)
    "temperature": 1.5,  # stage 1's sampling temperature: higher gives wilder readings
    "seed": 0,  # the same seed gives the same alternatives
    "steps": None,  # refinement steps per alternative; None keeps the job's
    "blend_frames": 3,  # frames at each end of the range that fade from the old motion
}


class ProtocolError(ValueError):
    """A line that is not a valid protocol message."""


def encode(message: dict[str, Any]) -> str:
    """Validate and serialise one message to a single line (with trailing newline)."""
    validate(message)
    return json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n"


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse and validate one line."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {line[:200]!r}") from exc
    validate(message)
    return message


def validate(message: Any) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(f"message must be an object with a 'type': {message!r}"[:300])
    kind = message["type"]
    if kind not in REQUIRED:
        raise ProtocolError(f"unknown message type {kind!r}")
    missing = [k for k in REQUIRED[kind] if k not in message]
    if missing:
        raise ProtocolError(f"{kind} message lacks {', '.join(missing)}")


def start_request(job_id: str, video: str, out_dir: str, **options: Any) -> dict[str, Any]:
    """A ``start`` request with defaults filled in; unknown options are rejected early."""
    unknown = set(options) - set(START_DEFAULTS)
    if unknown:
        raise ProtocolError(f"unknown job options: {', '.join(sorted(unknown))}")
    return {"type": "start", "job_id": job_id, "video": video, "out_dir": out_dir,
            **START_DEFAULTS, **options}


def job_options(request: dict[str, Any]) -> dict[str, Any]:
    """The options of a ``start`` request, defaults applied."""
    return {key: request.get(key, default) for key, default in START_DEFAULTS.items()}


def _revision(revision: int | None) -> int | None:
    if revision is None:
        return None
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ProtocolError(f"a revision is a whole number from 0, not {revision!r}")
    return int(revision)


def request_revision(request: dict[str, Any]) -> int | None:
    """The job folder revision an edit request names (None: absent or null, the folder's
    current one); :class:`ProtocolError` for anything but a whole number from 0."""
    return _revision(request.get("revision"))


def refine_request(job_id: str, job_dir: str, person: int, frame_start: int, frame_end: int,
                   revision: int | None = None, **options: Any) -> dict[str, Any]:
    """A ``refine`` request (video frames, both ends inclusive) with defaults filled in, at
    the job folder's ``revision`` (None: its current one)."""
    unknown = set(options) - set(REFINE_DEFAULTS)
    if unknown:
        raise ProtocolError(f"unknown refine options: {', '.join(sorted(unknown))}")
    return {"type": "refine", "job_id": job_id, "job_dir": job_dir, "person": int(person),
            "frame_start": int(frame_start), "frame_end": int(frame_end),
            "revision": _revision(revision), **REFINE_DEFAULTS, **options}


def refine_options(request: dict[str, Any]) -> dict[str, Any]:
    """The options of a ``refine`` request, defaults applied (``keep_joints`` as a tuple)."""
    options = {key: request.get(key, default) for key, default in REFINE_DEFAULTS.items()}
    options["keep_joints"] = tuple(str(j) for j in options["keep_joints"] or ())
    return options


def merge_request(job_id: str, job_dir: str, keep: int, other: int,
                  revision: int | None = None) -> dict[str, Any]:
    """A ``merge`` request: person ``other`` (a track id) joins person ``keep``, whose joined
    track the backend solves again (at the job folder's ``revision``, None: its current)."""
    if int(keep) == int(other):
        raise ProtocolError(f"a person cannot be merged into themselves (track {int(keep)})")
    return {"type": "merge", "job_id": job_id, "job_dir": job_dir, "keep": int(keep),
            "other": int(other), "revision": _revision(revision)}


def split_request(job_id: str, job_dir: str, person: int, frame: int,
                  new_person: int | None = None, revision: int | None = None
                  ) -> dict[str, Any]:
    """A ``split`` request: person ``person`` (a track id) of the finished job in ``job_dir``
    keeps its frames before video frame ``frame``; a new person takes the rest, with track id
    ``new_person`` (None: the job's next free id); at the folder's ``revision``."""
    return {"type": "split", "job_id": job_id, "job_dir": job_dir, "person": int(person),
            "frame": int(frame), "new_person": None if new_person is None else int(new_person),
            "revision": _revision(revision)}


def drop_request(job_id: str, job_dir: str, person: int, revision: int | None = None
                 ) -> dict[str, Any]:
    """A ``drop`` request: person ``person`` (a track id, a ghost) leaves the finished job in
    ``job_dir`` (at the folder's ``revision``)."""
    return {"type": "drop", "job_id": job_id, "job_dir": job_dir, "person": int(person),
            "revision": _revision(revision)}


def resample_request(job_id: str, job_dir: str, person: int, frame_start: int, frame_end: int,
                     revision: int | None = None, **options: Any) -> dict[str, Any]:
    """A ``resample`` request: alternatives for video frames ``frame_start..frame_end`` of
    person ``person`` (a track id), sampled from the job folder's ``revision``."""
    unknown = set(options) - set(RESAMPLE_DEFAULTS)
    if unknown:
        raise ProtocolError(f"unknown resample options: {', '.join(sorted(unknown))}")
    return {"type": "resample", "job_id": job_id, "job_dir": job_dir, "person": int(person),
            "frame_start": int(frame_start), "frame_end": int(frame_end),
            "revision": _revision(revision), **RESAMPLE_DEFAULTS, **options}


def resample_options(request: dict[str, Any]) -> dict[str, Any]:
    """The options of a ``resample`` request, defaults applied."""
    return {key: request.get(key, default) for key, default in RESAMPLE_DEFAULTS.items()}


def accept_request(job_id: str, job_dir: str, alternative: int, set_id: str | None = None,
                   revision: int | None = None) -> dict[str, Any]:
    """An ``accept`` request: alternative ``alternative`` (1-based) of the job folder's set
    ``set_id`` (a ``resample``'s ``done`` names it; None: the newest set) becomes its motion,
    as a new revision made at ``revision`` (the one the set was sampled from)."""
    return {"type": "accept", "job_id": job_id, "job_dir": job_dir,
            "alternative": int(alternative), "set": set_id, "revision": _revision(revision)}
