"""Turn a BVH written by Blender's exporter into world space, Y up (what BVH readers expect).

Blender's BVH exporter (``io_anim_bvh``) writes the armature's own space: Blender's Z up, the
object's location, rotation and scale left out. Every other BVH reader, Blender's own importer
with its default axes included, assumes Y up, so such a file comes in lying on its back, and a
character whose armature object is rotated or scaled (an FBX import: 90 degrees about X, 0.01)
comes in wrongly oriented and sized. This rewrites the file in place through one change of
basis ``B`` = (Blender Z up -> Y up, the same axes as our FBX export: forward -Z, up Y) @ (the
object's rotation), with the object's uniform scale ``s`` and translation ``t``:

* offsets (bone to bone): ``s B o``; the root's offset and position (absolute): ``s B p + C t``;
* each joint's rotation ``M`` (BVH joints rotate in axes aligned with the file's frame):
  ``B M B^T``, written back as Euler angles in the joint's own channel order, each frame kept
  continuous with the previous one.

The motion in the file is unchanged, only expressed in other axes; the object's animation (if
its transform is keyed) is not in a BVH at all, so the placement at the first frame is used.
"""

from __future__ import annotations

import math

from bpy_extras.io_utils import axis_conversion
from mathutils import Euler, Matrix, Vector

# Blender world (forward -Y, up Z) -> BVH file (forward +Z, up Y): file X = X, Y = Z, Z = -Y.
Y_UP: Matrix = axis_conversion(from_forward="-Y", from_up="Z", to_forward="Z", to_up="Y")


class _Joint:
    """One ROOT/JOINT of the hierarchy: its channels and whether it is placed absolutely."""

    __slots__ = ("absolute", "channels", "prev")

    def __init__(self, absolute: bool) -> None:
        self.absolute = absolute  # no parent joint with channels: offset/position are points
        self.channels: list[str] = []
        self.prev: Euler | None = None


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def to_world_y_up(path: str, world: Matrix) -> None:
    """Rewrite the BVH file at ``path`` (Blender's exporter) from armature space into world
    space, Y up; ``world`` is the armature object's world matrix."""
    loc, rot, scale = world.decompose()
    s = (scale.x + scale.y + scale.z) / 3.0
    basis = Y_UP @ rot.to_matrix()
    basis_t = basis.transposed()
    shift = Y_UP @ loc

    with open(path, encoding="utf8") as fh:
        lines = fh.read().splitlines()

    joints: list[_Joint] = []
    stack: list[_Joint | None] = []  # None for an End Site
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        words = line.split()
        head = words[0] if words else ""
        if head in ("ROOT", "JOINT"):
            parent = next((j for j in reversed(stack) if j is not None), None)
            joint = _Joint(absolute=parent is None or not parent.channels)
            joints.append(joint)
            stack.append(joint)
        elif head == "End":
            stack.append(None)
        elif head == "}":
            stack.pop()
        elif head == "CHANNELS":
            stack[-1].channels = words[2:]
        elif head == "OFFSET":
            node = stack[-1]
            v = s * (basis @ Vector([float(w) for w in words[1:4]]))
            if node is not None and node.absolute and any("position" in c for c in node.channels):
                v += shift
            out.append(line[:len(line) - len(line.lstrip())] + "OFFSET " + _fmt(list(v)))
            i += 1
            continue
        elif head == "MOTION":
            out.extend(lines[i:i + 3])  # MOTION, Frames:, Frame Time:
            out.extend(_motion_line(row, joints, s, basis, basis_t, shift)
                       for row in lines[i + 3:] if row.strip())
            break
        out.append(line)
        i += 1

    with open(path, "w", encoding="utf8", newline="\n") as fh:
        fh.write("\n".join(out) + "\n")


def _motion_line(row: str, joints: list[_Joint], s: float, basis: Matrix, basis_t: Matrix,
                 shift: Vector) -> str:
    values = [float(w) for w in row.split()]
    out: list[float] = []
    k = 0
    for joint in joints:
        chans = joint.channels
        mine = dict(zip(chans, values[k:k + len(chans)], strict=True))
        k += len(chans)
        position = rotation = None
        if "Xposition" in mine:
            p = s * (basis @ Vector((mine["Xposition"], mine["Yposition"], mine["Zposition"])))
            position = p + shift if joint.absolute else p
        order = "".join(c[0] for c in chans if c.endswith("rotation"))
        if order:
            euler = Euler([math.radians(mine[f"{a}rotation"]) for a in "XYZ"], order[::-1])
            turned = basis @ euler.to_matrix() @ basis_t
            prev = joint.prev or Euler((0.0, 0.0, 0.0), order[::-1])
            joint.prev = rotation = turned.to_euler(order[::-1], prev)
        for c in chans:
            if c.endswith("position"):
                out.append(position["XYZ".index(c[0])])
            else:
                out.append(math.degrees(rotation["XYZ".index(c[0])]))
    return _fmt(out)
