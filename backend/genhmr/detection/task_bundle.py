"""Build MediaPipe's multi-person PoseLandmarker ``.task`` bundle offline.

Why this exists: the Tasks-API ``PoseLandmarker`` (the only MediaPipe pose API that finds more
than one person per image) loads its models from a ``.task`` file that Google serves from a URL.
Nothing may be downloaded at run time, but the ``mediapipe==0.10.21`` wheel ships the two networks
the bundle needs, for its legacy single-person ``solutions.pose``:

* ``mediapipe/modules/pose_detection/pose_detection.tflite`` - BlazePose person detector
  (224x224 input, 2 outputs: box/keypoint regressors and scores),
* ``mediapipe/modules/pose_landmark/pose_landmark_full.tflite`` - BlazePose "full" landmark model
  (256x256 input, 5 outputs: landmarks, presence flag, segmentation, heatmap, world landmarks).

Those files carry no TFLite metadata, and the Tasks graphs refuse an image input without
``NormalizationOptions``. We add exactly that with MediaPipe's own metadata writer: the detector
expects pixels in [-1, 1] (mean = std = 127.5), the landmark model pixels in [0, 1] (mean 0,
std 255). The bundle is then an uncompressed zip (the Tasks runtime memory-maps members, so they
must be ``ZIP_STORED``) with the member names the PoseLandmarker graph looks up.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import zipfile
from pathlib import Path

BUNDLE_NAME = "pose_landmarker_multi.task"
DETECTOR_MEMBER = "pose_detector.tflite"
LANDMARKS_MEMBER = "pose_landmarks_detector.tflite"
MODEL_DIR_ENV = "GENHMR_MODEL_DIR"

# (path inside the mediapipe package, bundle member, norm mean, norm std, number of outputs)
_MODELS: tuple[tuple[str, str, float, float, int], ...] = (
    ("modules/pose_detection/pose_detection.tflite", DETECTOR_MEMBER, 127.5, 127.5, 2),
    ("modules/pose_landmark/pose_landmark_full.tflite", LANDMARKS_MEMBER, 0.0, 255.0, 5),
)

_MEDIAPIPE_HINT = (
    "GenHMR needs mediapipe==0.10.21, the last release whose wheel bundles "
    "pose_detection.tflite and pose_landmark_full.tflite (install it with numpy<2, protobuf<5)."
)


def default_task_path() -> Path:
    """Where the bundle lives: ``$GENHMR_MODEL_DIR/pose_landmarker_multi.task`` if that variable
    is set, else ``<sys.prefix>/share/genhmr/pose_landmarker_multi.task`` (next to the venv that
    holds mediapipe, so a rebuilt venv gets a bundle made from its own mediapipe)."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env).expanduser() / BUNDLE_NAME
    return Path(sys.prefix) / "share" / "genhmr" / BUNDLE_NAME


def _mediapipe_dir() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"Cannot build the pose task bundle: mediapipe is not installed. "
                           f"{_MEDIAPIPE_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def source_model_paths() -> dict[str, Path]:
    """Bundle member name -> the tflite file inside the installed mediapipe wheel.

    Raises RuntimeError naming the missing file (newer mediapipe wheels dropped them)."""
    root = _mediapipe_dir()
    out: dict[str, Path] = {}
    for rel, member, _mean, _std, _n in _MODELS:
        path = root / rel
        if not path.is_file():
            raise RuntimeError(f"Cannot build the pose task bundle: {path} is missing from the "
                               f"installed mediapipe. {_MEDIAPIPE_HINT}")
        out[member] = path
    return out


def _with_metadata(model: bytes, name: str, mean: float, std: float, n_outputs: int) -> bytes:
    """Return ``model`` with image-input NormalizationOptions and ``n_outputs`` feature outputs.

    The writer must declare every output tensor (it pairs metadata with tensors by position), and
    the Tasks runtime reads only the input normalisation from it."""
    try:
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
    except ImportError as exc:  # pragma: no cover - depends on the installed wheel
        raise RuntimeError(f"Cannot build the pose task bundle: mediapipe's metadata writers "
                           f"failed to import ({exc}). {_MEDIAPIPE_HINT}") from exc
    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "BlazePose model from the mediapipe 0.10.21 wheel; "
                                  "metadata added offline by genhmr")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in range(n_outputs):
        writer.add_feature_output()
    populated, _json = writer.populate()
    return bytes(populated)


def build_task_bundle(dest: Path) -> Path:
    """Build the multi-person PoseLandmarker bundle at ``dest`` (a file path; an existing
    directory gets ``pose_landmarker_multi.task`` inside it) and return its path.

    Offline and fast (well under a second). Written to a temporary file in the same directory
    and renamed into place, so a concurrent reader never sees half a zip and two processes
    building at once both end with a complete file. Any failure raises RuntimeError.
    """
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / BUNDLE_NAME
    sources = source_model_paths()
    members: dict[str, bytes] = {}
    for rel, member, mean, std, n_outputs in _MODELS:
        try:
            raw = sources[member].read_bytes()
            members[member] = _with_metadata(raw, Path(rel).stem, mean, std, n_outputs)
        except RuntimeError:
            raise
        except Exception as exc:
            raise RuntimeError(f"Cannot build the pose task bundle: adding metadata to "
                               f"{sources[member]} failed: {exc!r}. {_MEDIAPIPE_HINT}") from exc
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise RuntimeError(f"Cannot build the pose task bundle: cannot write to {dest.parent}: "
                           f"{exc}. Set {MODEL_DIR_ENV} to a writable folder.") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for member, data in members.items():
                zf.writestr(zipfile.ZipInfo(member, date_time=(2025, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"Cannot build the pose task bundle at {dest}: {exc}. "
                           f"Set {MODEL_DIR_ENV} to a writable folder.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def is_valid_bundle(path: Path) -> bool:
    """True if ``path`` is a zip holding both members uncompressed (a cheap structural check,
    used to rebuild a bundle left truncated or made by something else)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename: info for info in zf.infolist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return all(
        name in infos and infos[name].compress_type == zipfile.ZIP_STORED
        and infos[name].file_size > 0
        for name in (DETECTOR_MEMBER, LANDMARKS_MEMBER)
    )


def ensure_task_bundle(path: Path | None = None) -> Path:
    """Return a usable bundle path, building it first if it is missing or malformed."""
    target = Path(path).expanduser() if path is not None else default_task_path()
    if target.is_dir():
        target = target / BUNDLE_NAME
    if target.is_file() and is_valid_bundle(target):
        return target
    return build_task_bundle(target)
