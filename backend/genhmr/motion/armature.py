"""A Blender armature's rest frames and forward kinematics, in numpy.

Keyframes on a Blender bone (``location``, ``rotation_euler``) are expressed in that bone's own
rest frame, which Blender derives from the bone's head, tail and *roll*: the bone's Y axis runs
head to tail, and X/Z come from the smallest rotation taking +Y onto that direction, turned by
the roll about it. :func:`bone_rest_matrix` reproduces Blender's construction (including its
special case for bones pointing almost exactly along -Y), so animation made in Blender can be
played back here without Blender.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

# Blender's thresholds for bones pointing (nearly) along -Y, where the general formula is
# numerically poor (vec_roll_to_mat3_normalized in armature.cc).
_SAFE = 6.1e-3
_CRITICAL_SQUARED = 2.5e-4**2


def bone_rest_rotation(direction: np.ndarray, roll: float) -> np.ndarray:
    """The rest frame (3, 3), columns = the bone's X, Y, Z axes, of a bone pointing along
    ``direction`` with ``roll`` (radians), as Blender builds it."""
    x, y, z = np.asarray(direction, float) / np.linalg.norm(direction)
    theta = 1.0 + y
    theta_alt = x * x + z * z
    if theta > _SAFE or theta_alt > _CRITICAL_SQUARED:
        if theta <= _SAFE:
            theta = 0.5 * theta_alt + 0.125 * theta_alt * theta_alt
        swing = np.array([[1.0 - x * x / theta, x, -x * z / theta],
                          [-x, y, -z],
                          [-x * z / theta, z, 1.0 - z * z / theta]])
    else:  # pointing along -Y: a half turn about Z
        swing = np.diag([-1.0, -1.0, 1.0])
    twist = Rotation.from_rotvec(np.array([x, y, z]) * roll).as_matrix()
    return twist @ swing


def bone_rest_matrix(head: np.ndarray, tail: np.ndarray, roll: float) -> np.ndarray:
    """The bone's rest matrix (4, 4) in armature space: its frame at its head."""
    head = np.asarray(head, float)
    out = np.eye(4)
    out[:3, :3] = bone_rest_rotation(np.asarray(tail, float) - head, roll)
    out[:3, 3] = head
    return out


def local_transform(frames: int, location: np.ndarray | None = None,
                    euler_xyz: np.ndarray | None = None) -> np.ndarray:
    """A pose bone's local matrices (T, 4, 4) from its channels (T, 3): translation, then
    Blender's XYZ Euler rotation (X applied first). Either may be None (identity)."""
    out = np.tile(np.eye(4), (frames, 1, 1))
    if euler_xyz is not None:
        out[:, :3, :3] = Rotation.from_euler("xyz", np.asarray(euler_xyz, float)).as_matrix()
    if location is not None:
        out[:, :3, 3] = location
    return out


@dataclass
class Armature:
    """Bones with parents (topologically ordered) and rest matrices, in armature space.

    Bones inherit their parent's full transform (Blender's defaults: inherit rotation, full
    scale, local location); constraints are not modelled here, the caller applies them.
    """

    names: list[str]
    parents: list[int]  # -1 for a root
    rest: np.ndarray  # (B, 4, 4)
    lengths: np.ndarray  # (B,)

    @classmethod
    def from_bones(cls, bones: dict[str, tuple[np.ndarray, np.ndarray, float, str | None]]
                   ) -> Armature:
        """Build from ``name -> (head, tail, roll, parent name or None)`` in any order."""
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...] = ()) -> None:
            if name in order:
                return
            if name in path:
                raise ValueError(f"bone hierarchy has a cycle through {name!r}")
            parent = bones[name][3]
            if parent:
                if parent not in bones:
                    raise ValueError(f"bone {name!r} has unknown parent {parent!r}")
                visit(parent, path + (name,))
            order.append(name)

        for name in bones:
            visit(name)
        rest = np.stack([bone_rest_matrix(*bones[n][:3]) for n in order])
        lengths = np.array([np.linalg.norm(np.asarray(bones[n][1], float) - bones[n][0])
                            for n in order])
        parents = [order.index(bones[n][3]) if bones[n][3] else -1 for n in order]
        return cls(names=order, parents=parents, rest=rest, lengths=lengths)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError as exc:
            raise KeyError(f"armature has no bone {name!r}") from exc

    def pose(self, local: dict[str, np.ndarray], frames: int) -> np.ndarray:
        """Pose matrices (T, B, 4, 4) in armature space from per-bone local matrices
        (``name -> (T, 4, 4)``; bones left out stay at rest relative to their parent)."""
        out = np.empty((frames, len(self.names), 4, 4))
        for b, (name, parent) in enumerate(zip(self.names, self.parents, strict=True)):
            basis = local.get(name)
            offset = self.rest[b] if parent < 0 else \
                np.linalg.inv(self.rest[parent]) @ self.rest[b]
            placed = offset if basis is None else offset @ basis
            out[:, b] = placed if parent < 0 else out[:, parent] @ placed
        return out

    def heads(self, pose: np.ndarray) -> np.ndarray:
        """Bone head positions (T, B, 3) of a pose from :meth:`pose`."""
        return pose[..., :3, 3]
