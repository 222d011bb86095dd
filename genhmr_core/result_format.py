"""The versioned result file: the contract between the backend and the Blender add-on.

One ``.npz`` per job, always read with ``allow_pickle=False`` (strings are stored as fixed-width
unicode arrays, never as pickled objects). Shapes use P = tracked people, F = frames in the job,
J = 55 SMPL-X joints, K = keypoints (COCO-17 first, see ``genhmr_core.keypoints``), L = 33
MediaPipe landmarks. Camera space is OpenCV's: x right, y down, z forward, metres; pixel
coordinates have their origin at the top-left corner of the image. The full field list with
meanings is in ``docs/result_format.md``; :data:`FIELDS` below is the machine-checked version.

SMPL-X semantics: rotations are axis-angle and joint-local (parent frame, rest frames aligned
with the model axes); the posed pelvis is ``R(global_orient) @ 0 + rest_joints[0] + transl``,
i.e. ``joints3d[..., 0, :] == rest_joints[0] + transl``.

Version 2 adds the body mesh (``body_*`` arrays, :class:`~genhmr_core.body_mesh.BodyMesh`): the
template, skinning weights and linear shape model of the body the backend used, so the add-on
builds each person's skinned mesh from ``betas`` without reading model files. Version 1 files
(armature only) still load, with ``body`` None.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .body_mesh import BodyMesh, BodyMeshError
from .keypoints import KEYPOINT_NAMES, MEDIAPIPE_NAMES
from .npz import save_npz
from .skeleton import JOINT_NAMES, NUM_BODY_JOINTS, PARENTS

FORMAT_NAME = "genhmr-result"
FORMAT_VERSION = 2
NUM_BETAS = 10  # SMPL-X betas kept in results; the default body has fewer (body.num_betas)


class ResultFormatError(ValueError):
    """A result file is missing fields, has wrong shapes, or comes from a newer format."""


# name -> (shape with symbolic dims, dtype kind). Symbols: P F J K L B; ints are literal.
# B is the body's number of shape coefficients (``body.num_betas``; 10 in version 1 files).
FIELDS: dict[str, tuple[tuple[str | int, ...], str]] = {
    "track_ids": (("P",), "i"),
    "frame_indices": (("F",), "i"),
    "valid": (("P", "F"), "b"),
    "rest_joints": (("P", "J", 3), "f"),
    "betas": (("P", "B"), "f"),
    "global_orient": (("P", "F", 3), "f"),
    "body_pose": (("P", "F", NUM_BODY_JOINTS, 3), "f"),
    "transl": (("P", "F", 3), "f"),
    "joints3d": (("P", "F", "J", 3), "f"),
    "joint_confidence": (("P", "F", "J"), "f"),
    "keypoints2d": (("P", "F", "K", 3), "f"),
    "keypoints3d": (("P", "F", "K", 3), "f"),
    "boxes": (("P", "F", 4), "f"),
    "detector_landmarks2d": (("P", "F", "L", 3), "f"),
    "detector_world_landmarks": (("P", "F", "L", 3), "f"),
    "camera_K": ((3, 3), "f"),
    "image_size": ((2,), "i"),
}
# Optional arrays: written when the method provides them, ``None`` when it does not (additive,
# so files without them are still version 2).
OPTIONAL_FIELDS: dict[str, tuple[tuple[str | int, ...], str]] = {
    "joint_uncertainty": (("P", "F", NUM_BODY_JOINTS), "f"),
    "camera_rotation": (("F", 3, 3), "f"),
    "camera_focal_px": (("F",), "f"),
    "ground_plane": ((4,), "f"),
    "foot_contact": (("P", "F", 4), "f"),
    "root_world": (("P", "F", 3), "f"),
    "support_height": (("P", "F"), "f"),
    "body_scale": (("P",), "f"),
}
METADATA = ("format", "format_version", "source_video", "fps", "body_model", "method",
            "joint_names", "joint_parents", "keypoint_names", "landmark_names", "backend_version")


@dataclasses.dataclass
class JobResult:
    """Everything the backend recovered for one video frame range."""

    source_video: str
    fps: float
    image_size: np.ndarray  # (2,) width, height in pixels
    camera_K: np.ndarray  # (3, 3) intrinsics in pixels (the first frame's when the lens zoomed)
    frame_indices: np.ndarray  # (F,) video frame numbers (0-based) covered by the job
    track_ids: np.ndarray  # (P,) stable person ids
    valid: np.ndarray  # (P, F) person seen and solved in that frame
    rest_joints: np.ndarray  # (P, J, 3) rest joint positions, SMPL-X model frame
    betas: np.ndarray  # (P, B) shape coefficients, constant over time
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    joints3d: np.ndarray
    joint_confidence: np.ndarray
    keypoints2d: np.ndarray
    keypoints3d: np.ndarray
    boxes: np.ndarray
    detector_landmarks2d: np.ndarray
    detector_world_landmarks: np.ndarray
    body_model: str = "builtin"
    method: str = "fit"
    backend_version: str = ""
    body: BodyMesh | None = None  # the skinned mesh; None for skeleton-only results
    # (P, F, 21) degrees per body joint (generative method); None when the method has none
    joint_uncertainty: np.ndarray | None = None
    # (F, 3, 3) world-to-camera rotation of each frame, world = the camera at the first frame;
    # None: the camera did not turn (or motion was not estimated)
    camera_rotation: np.ndarray | None = None
    # (F,) the focal length in pixels of each frame when the lens zoomed during the clip
    # (``camera_K`` holds the first frame's); None: one focal length, ``camera_K``'s
    camera_focal_px: np.ndarray | None = None
    # (4,) the floor n . X = d in the world frame, [nx, ny, nz, d], n unit and pointing up;
    # None: not estimated (readers fall back to the people's feet)
    ground_plane: np.ndarray | None = None
    # (P, F, 4) contact probability of left heel, left toe, right heel, right toe
    # (genhmr_core.contacts.CONTACT_POINTS); None: not estimated
    foot_contact: np.ndarray | None = None
    # (P, F, 3) the pelvis in the scene's world frame (metres, Z up, the floor at z = 0, the
    # first frame's camera looking along +Y), as the add-on places the rigs; 0 where the person
    # was not seen; None: no floor was found
    root_world: np.ndarray | None = None
    # (P, F) height above the floor of the level the person stands on (0: the floor; e.g. a
    # box top), per frame; 0 where not seen; None: no floor was found
    support_height: np.ndarray | None = None
    # (P,) each person's uniform size: their body is ``body.shaped(betas)`` scaled by this about
    # the model origin (``rest_joints`` already hold the scaled joints; the mesh is scaled
    # alike). Set when people are sized by the floor they share (``genhmr.floor_sizing``): a
    # scale about the camera keeps a person's picture exactly, which no shape coefficient
    # does. None: every person at scale 1
    body_scale: np.ndarray | None = None

    @property
    def num_people(self) -> int:
        return int(self.track_ids.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.frame_indices.shape[0])

    def body_scales(self) -> np.ndarray:
        """(P,) float64 each person's uniform size (``body_scale``; ones when the file has
        none)."""
        if self.body_scale is None:
            return np.ones(self.num_people)
        return np.asarray(self.body_scale, dtype=np.float64)

    def intrinsics(self) -> np.ndarray:
        """(F, 3, 3) float64 pinhole intrinsics of every frame (:func:`frame_intrinsics`). What
        every reader that projects or casts rays uses, so a zoom is honoured wherever a frame
        is projected."""
        return frame_intrinsics(self.camera_K, self.camera_focal_px, self.num_frames)

    def validate(self) -> None:
        """Check every field's shape against :data:`FIELDS`; raise ResultFormatError if wrong."""
        dims: dict[str, int] = {}
        expected_fixed = {"J": len(JOINT_NAMES), "K": len(KEYPOINT_NAMES),
                          "L": len(MEDIAPIPE_NAMES)}
        if self.body is not None:
            try:
                self.body.validate()
            except BodyMeshError as exc:
                raise ResultFormatError(str(exc)) from exc
            expected_fixed["B"] = self.body.num_betas
        present = {name: spec for name, spec in OPTIONAL_FIELDS.items()
                   if getattr(self, name) is not None}
        for name, (shape, kind) in {**FIELDS, **present}.items():
            arr = np.asarray(getattr(self, name))
            if arr.ndim != len(shape):
                raise ResultFormatError(f"{name}: expected {len(shape)} dims, got {arr.shape}")
            if arr.dtype.kind not in (kind, "u" if kind == "i" else kind):
                raise ResultFormatError(f"{name}: expected dtype kind {kind!r}, got {arr.dtype}")
            for dim, size in zip(shape, arr.shape, strict=True):
                if isinstance(dim, int):
                    want = dim
                elif dim in expected_fixed:
                    want = expected_fixed[dim]
                else:
                    want = dims.setdefault(dim, size)
                if size != want:
                    raise ResultFormatError(f"{name}: dim {dim} is {size}, expected {want}")
        if self.ground_plane is not None:
            plane = np.asarray(self.ground_plane, dtype=np.float64)
            if not np.isfinite(plane).all() or abs(np.linalg.norm(plane[:3]) - 1.0) > 1e-3:
                raise ResultFormatError("ground_plane: expected [nx, ny, nz, d] with a unit "
                                        "normal")
        if self.foot_contact is not None:
            contact = np.asarray(self.foot_contact, dtype=np.float64)
            if not (np.isfinite(contact).all() and (contact >= 0).all() and (contact <= 1).all()):
                raise ResultFormatError("foot_contact: probabilities must lie in [0, 1]")
        if self.body_scale is not None:
            size = np.asarray(self.body_scale, dtype=np.float64)
            if not (np.isfinite(size).all() and (size > 0).all()):
                raise ResultFormatError("body_scale: every person's size must be a positive "
                                        "number")
        for name in ("root_world", "support_height"):
            if getattr(self, name) is not None and not np.isfinite(getattr(self, name)).all():
                raise ResultFormatError(f"{name}: every value must be a finite number")
        if self.camera_focal_px is not None:
            focal = np.asarray(self.camera_focal_px, dtype=np.float64)
            if not (np.isfinite(focal).all() and (focal > 0).all()):
                raise ResultFormatError("camera_focal_px: every frame's focal length must be a "
                                        "positive number of pixels")
        if self.camera_rotation is not None:
            rot = np.asarray(self.camera_rotation, dtype=np.float64)
            gram = np.einsum("fji,fjk->fik", rot, rot)
            if (not np.isfinite(rot).all() or np.abs(gram - np.eye(3)).max() > 1e-3
                    or (np.linalg.det(rot) <= 0).any()):
                raise ResultFormatError("camera_rotation: every frame must hold a rotation "
                                        "matrix (orthonormal, determinant +1)")


def frame_intrinsics(camera_K: np.ndarray, focal_px: np.ndarray | None,
                     num_frames: int) -> np.ndarray:
    """(F, 3, 3) float64 intrinsics of every frame: ``camera_K`` with, where the lens zoomed,
    each frame's focal length ``focal_px`` (F,) (``fy`` scaled with ``fx``, the principal
    point kept); ``camera_K`` in every frame when ``focal_px`` is None."""
    K = np.repeat(np.asarray(camera_K, dtype=np.float64)[None], num_frames, axis=0)
    if focal_px is not None:
        zoom = np.asarray(focal_px, dtype=np.float64) / K[:, 0, 0]
        K[:, 0, 0] *= zoom
        K[:, 1, 1] *= zoom
    return K


def save_result(result: JobResult, path: str | os.PathLike) -> Path:
    """Validate and write atomically (temp file + rename), so a reader never sees half a file."""
    result.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for name, (_, kind) in {**FIELDS, **OPTIONAL_FIELDS}.items():
        if getattr(result, name) is None:
            continue
        arr = np.asarray(getattr(result, name))
        arrays[name] = arr.astype(np.float32) if kind == "f" else arr.astype(
            bool if kind == "b" else np.int64)
    arrays.update(
        format=np.array(FORMAT_NAME),
        format_version=np.array(FORMAT_VERSION, dtype=np.int64),
        source_video=np.array(str(result.source_video)),
        fps=np.array(float(result.fps)),
        body_model=np.array(result.body_model),
        method=np.array(result.method),
        backend_version=np.array(result.backend_version),
        joint_names=np.array(JOINT_NAMES),
        joint_parents=np.array(PARENTS, dtype=np.int64),
        keypoint_names=np.array(KEYPOINT_NAMES),
        landmark_names=np.array(MEDIAPIPE_NAMES),
    )
    if result.body is not None:
        arrays.update(result.body.to_arrays())
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            save_npz(fh, arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_result(path: str | os.PathLike) -> JobResult:
    """Read a result file written by any backend of a compatible version (never unpickles).

    Every problem with the file (unreadable, truncated, not an ``.npz``, pickled objects inside,
    missing fields, wrong shapes, newer format) raises :class:`ResultFormatError`.
    """
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise ResultFormatError(f"Result file not found: {path}") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ResultFormatError(_unreadable(path, exc)) from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ResultFormatError(f"{path} is a single NumPy array, not a GenHMR result file "
                                "(an .npz archive)")
    try:
        with data:
            _refuse_object_arrays(path, data)
            result = _read_result(path, data)
    except ResultFormatError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # Arrays are read lazily: a damaged member only shows up here.
        raise ResultFormatError(f"{path} is damaged (an array in it cannot be read: {exc}); "
                                "analyse the video again or use another copy") from exc
    result.validate()
    return result


def _unreadable(path: str | os.PathLike, exc: BaseException) -> str:
    """One sentence on why ``np.load`` could not open the file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return f"Cannot open the result file {path}: {exc}"
    if not head:
        return f"{path} is empty (0 bytes), not a GenHMR result file"
    if head.startswith(b"PK"):
        return (f"{path} is damaged (cut short or corrupted: {exc}); analyse the video again "
                "or use another copy")
    return f"{path} is not a GenHMR result file (not an .npz archive)"


def _refuse_object_arrays(path: str | os.PathLike, data: np.lib.npyio.NpzFile) -> None:
    """Refuse a file with any array of Python objects (known field or not): loading one would
    unpickle, i.e. run code from the file. Read from the arrays' headers, nothing unpickled."""
    for member in data.zip.namelist():
        with data.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                dtype = np.lib.format.read_array_header_1_0(f)[2]
            elif version == (2, 0):
                dtype = np.lib.format.read_array_header_2_0(f)[2]
            else:  # a newer header layout: loading it refuses object arrays itself
                continue
        if dtype.hasobject:
            name = member.removesuffix(".npy")
            raise ResultFormatError(f"{path} holds pickled Python objects (array '{name}'), "
                                    "which are never loaded: not a file the backend wrote")


def _read_result(path: str | os.PathLike, data: np.lib.npyio.NpzFile) -> JobResult:
    keys = set(data.files)
    if "format" not in keys or str(data["format"]) != FORMAT_NAME:
        raise ResultFormatError(f"{path} is not a GenHMR result file")
    version = int(data["format_version"])
    if version > FORMAT_VERSION:
        raise ResultFormatError(
            f"{path} has format version {version}; this add-on reads up to {FORMAT_VERSION}."
            " Update the add-on.")
    missing = sorted((set(FIELDS) | set(METADATA)) - keys)
    if missing:
        raise ResultFormatError(f"{path} lacks fields: {', '.join(missing)}")
    if tuple(str(n) for n in data["joint_names"]) != JOINT_NAMES:
        raise ResultFormatError(f"{path} uses a different joint set")
    if tuple(str(n) for n in data["keypoint_names"]) != KEYPOINT_NAMES:
        raise ResultFormatError(f"{path} uses a different keypoint set")
    body = None
    if version >= 2 and "body_name" in keys:
        try:
            body = BodyMesh.from_arrays(data)
        except BodyMeshError as exc:
            raise ResultFormatError(f"{path}: {exc}") from exc
    return JobResult(
        body=body,
        source_video=str(data["source_video"]),
        fps=float(data["fps"]),
        body_model=str(data["body_model"]),
        method=str(data["method"]),
        backend_version=str(data["backend_version"]),
        **{name: np.array(data[name]) for name in FIELDS},
        **{name: np.array(data[name]) for name in OPTIONAL_FIELDS if name in keys},
    )


def empty_result(source_video: str, fps: float, image_size: tuple[int, int],
                 camera_K: np.ndarray, frame_indices: np.ndarray, num_people: int,
                 num_betas: int = NUM_BETAS) -> JobResult:
    """A result with every per-person array allocated (zeros, nothing valid) for filling in."""
    p, f = num_people, len(frame_indices)
    j, k, lm = len(JOINT_NAMES), len(KEYPOINT_NAMES), len(MEDIAPIPE_NAMES)
    z = np.zeros
    return JobResult(
        source_video=source_video, fps=float(fps),
        image_size=np.asarray(image_size, dtype=np.int64), camera_K=np.asarray(camera_K),
        frame_indices=np.asarray(frame_indices, dtype=np.int64),
        track_ids=np.arange(p, dtype=np.int64), valid=z((p, f), bool),
        rest_joints=z((p, j, 3)), betas=z((p, num_betas)), global_orient=z((p, f, 3)),
        body_pose=z((p, f, NUM_BODY_JOINTS, 3)), transl=z((p, f, 3)), joints3d=z((p, f, j, 3)),
        joint_confidence=z((p, f, j)), keypoints2d=z((p, f, k, 3)), keypoints3d=z((p, f, k, 3)),
        boxes=z((p, f, 4)), detector_landmarks2d=z((p, f, lm, 3)),
        detector_world_landmarks=z((p, f, lm, 3)),
    )
