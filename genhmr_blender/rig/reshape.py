"""Give a rig (and its body) a person's new body shape, in place.

A merge solves the joined person's body shape again (``people_edits.merge_people``: new
``betas`` and ``rest_joints``). The kept rig must take that shape: its bone lengths are the
person's proportions, its body is skinned to them, and the re-keyed motion is computed against
the bones' rest frames. Rebuilding the rig would lose what the artist set up on it (its name,
constraints, custom shapes, bone colours, parenting, a retarget that reads it), so the bones are
moved in edit mode, exactly as :func:`armature.build_armature` places them, and the body's shape
keys are valued at the new ``betas``.

Bone rest frames change with the bones, so keys written against the old ones would pose the
rig differently: call this before re-keying the motion (``rerange.apply_merge`` re-keys the
merged person's whole span, which holds every key its rig had).
"""

from __future__ import annotations

import contextlib

import bpy
import numpy as np

from .._core import body_mesh, scene_space, skeleton
from . import armature, mesh, people


def obstacle(rig: bpy.types.Object) -> str | None:
    """Why ``rig``'s bones cannot be edited (call before changing anything), or None."""
    if rig.name not in bpy.context.view_layer.objects:
        return (f"{rig.name} is not in the view layer (its collection is excluded); its bones "
                "cannot be given the new body shape")
    return None


def reshape(rig: bpy.types.Object, rest_joints: np.ndarray, betas: np.ndarray | None,
            body: body_mesh.BodyMesh | None, scale: float = 1.0) -> float:
    """Move ``rig``'s bones to ``rest_joints`` (camera frame, as a result holds them), write its
    bodies at uniform size ``scale`` (``JobResult.body_scale``) and value their shape keys at
    ``betas``; returns how far the farthest bone head moved (m). The rig must be in the view
    layer (:func:`obstacle`)."""
    heads = scene_space.rest_joints_in_armature(np.asarray(rest_joints, dtype=np.float64))
    tails = armature.bone_tails(heads)
    bones = rig.data.bones
    old = np.array([bones[name].head_local for name in skeleton.JOINT_NAMES])
    moved = float(np.abs(old - heads).max())
    if moved > 1e-7:
        with _editing(rig):
            edit_bones = rig.data.edit_bones
            for j, name in enumerate(skeleton.JOINT_NAMES):
                eb = edit_bones[name]
                eb.head, eb.tail, eb.roll = heads[j].tolist(), tails[j].tolist(), 0.0
    if body is not None and betas is not None:
        for obj in people.bodies_of(rig):
            mesh.set_size(obj, body, scale)
            mesh.set_shape(obj, body, np.asarray(betas, dtype=np.float64))
    return moved


class _editing:
    """Edit mode on ``rig`` alone (made visible, active and the only selected object for the
    while), then everything as it was: mode, active object, selection, visibility."""

    def __init__(self, rig: bpy.types.Object) -> None:
        self.rig = rig
        self.layer = bpy.context.view_layer

    def __enter__(self) -> None:
        rig, layer = self.rig, self.layer
        self.active = layer.objects.active
        self.mode = self.active.mode if self.active is not None else "OBJECT"
        if self.active is not None and self.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        self.selected = [o for o in layer.objects if o.select_get()]
        self.hidden = (rig.hide_viewport, rig.hide_get(), rig.hide_select)
        rig.hide_viewport = False
        rig.hide_set(False)
        rig.hide_select = False
        for obj in self.selected:
            obj.select_set(False)
        rig.select_set(True)
        layer.objects.active = rig
        bpy.ops.object.mode_set(mode="EDIT")

    def __exit__(self, *exc: object) -> None:
        rig, layer = self.rig, self.layer
        bpy.ops.object.mode_set(mode="OBJECT")
        rig.select_set(False)
        for obj in self.selected:
            obj.select_set(True)
        rig.hide_viewport, hidden, rig.hide_select = self.hidden
        rig.hide_set(hidden)
        layer.objects.active = self.active
        if self.active is not None and self.mode != "OBJECT":
            with contextlib.suppress(RuntimeError):  # the mode needs what it no longer has
                bpy.ops.object.mode_set(mode=self.mode)
