"""Importing a result again into a scene that has this video's GenHMR collection: update it.

Re-analysing a clip, or importing a newer result, must not leave a second collection, camera
and material with ``.001`` names next to the first, nor break what the artist built on the
first import: a character whose retarget source is ``GenHMR_person_3``, a prop parented to a
bone, the rig's place in their own collections. So the new result is built as usual (into a
scratch collection, with the usual rollback on failure) and then merged into the existing one:

* every object the import made carries its role (rig, body, camera, ground, support) and track
  id (a support block's: its index);
* an existing object with the same role and track **adopts** the new one: its data (armature,
  mesh, camera), transform, action, custom properties and pose-bone properties, while the
  object itself (its name, its users, its children, its other collections) stays;
* new people join the existing collection; people the new result does not have are left as
  they were (and reported); support blocks the new result does not have go (they are drawn
  from the result's feet, nothing of the artist's);
* the replaced data-blocks and actions are removed when nothing else uses them.
"""

from __future__ import annotations

import contextlib

import bpy

ROLE = "genhmr_role"  # "rig", "body", "camera", "ground", "support"
TRACK = "genhmr_track"  # the person's track id (rigs and bodies)
IMPORT_TAG = "genhmr_import"  # on collections an import made
# Also on the import's collection, for later edits:
FRAME_RANGE = "genhmr_frame_range"  # (first, last) analysed scene frame
RESULT_PATH = "genhmr_result"  # the result file it was built from (in its job folder)
FRAME_OFFSET = "genhmr_frame_offset"  # the scene frame showing video frame 0
# The job folder's revision the rigs show (genhmr_core.job_revisions): Blender's undo restores
# it with the rigs, and every request to edit the analysis names it.
JOB_REVISION = "genhmr_job_revision"


def tag(obj: bpy.types.Object, role: str, track: int | None = None) -> None:
    obj[ROLE] = role
    if track is not None:
        obj[TRACK] = int(track)


def existing_collection(name: str) -> bpy.types.Collection | None:
    """A collection of that name made by an earlier import (not the artist's own)."""
    coll = bpy.data.collections.get(name)
    return coll if coll is not None and coll.get(IMPORT_TAG) else None


def _key(obj: bpy.types.Object) -> tuple[str, int] | None:
    role = obj.get(ROLE)
    return (str(role), int(obj.get(TRACK, -1))) if role else None


def _copy_properties(old: bpy.types.bpy_struct, new: bpy.types.bpy_struct) -> None:
    for key in list(new.keys()):
        old[key] = new[key]
        with contextlib.suppress(TypeError):  # properties without UI data (strings, groups)
            old.id_properties_ui(key).update_from(new.id_properties_ui(key))


def assign_action(old: bpy.types.Object, action: bpy.types.Action | None) -> None:
    """Give ``old`` this action (and, from 4.4, its first slot when none was picked)."""
    anim = old.animation_data or old.animation_data_create()
    anim.action = action
    slots = getattr(action, "slots", None)  # 4.4+: say which slot, it was made for another ID
    if slots is not None and len(slots) and anim.action_slot is None:
        anim.action_slot = slots[0]


def adopt(old: bpy.types.Object, new: bpy.types.Object) -> None:
    """``old`` takes ``new``'s data, transform, action and custom properties."""
    previous_data = old.data
    previous_action = old.animation_data.action if old.animation_data else None
    new_action = new.animation_data.action if new.animation_data else None
    if new.animation_data is not None:
        new.animation_data.action = None
    old.data = new.data
    old.matrix_basis = new.matrix_basis
    assign_action(old, new_action)
    _copy_properties(old, new)
    if old.type == "ARMATURE":
        for pb in new.pose.bones:
            target = old.pose.bones.get(pb.name)
            if target is None:
                continue
            target.rotation_mode = pb.rotation_mode
            _copy_properties(target, pb)
    if old.type == "MESH":
        for mod in new.modifiers:
            same = old.modifiers.get(mod.name)
            if same is not None and mod.type == "ARMATURE":
                same.use_deform_preserve_volume = mod.use_deform_preserve_volume
    for block, pool in ((previous_data, data_pool(previous_data)),
                        (previous_action, bpy.data.actions)):
        if block is not None and pool is not None and block.users == 0:
            pool.remove(block)
    for block in (old.data, new_action):  # "GenHMR_person_3.001..." -> "GenHMR_person_3..."
        if block is not None and block.name.startswith(new.name):
            block.name = old.name + block.name[len(new.name):]


def data_pool(data: bpy.types.ID | None) -> bpy.types.bpy_prop_collection | None:
    """The ``bpy.data`` collection an object's data (armature, mesh, camera) lives in."""
    if isinstance(data, bpy.types.Armature):
        return bpy.data.armatures
    if isinstance(data, bpy.types.Mesh):
        return bpy.data.meshes
    if isinstance(data, bpy.types.Camera):
        return bpy.data.cameras
    return None


def merge(scene: bpy.types.Scene, old_coll: bpy.types.Collection,
          new_coll: bpy.types.Collection) -> tuple[dict[str, str], list[str]]:
    """Merge a fresh import into an earlier one; returns {new object name: final name} and
    the names of the earlier people the new result does not have."""
    for key in list(new_coll.keys()):  # what the import records on its collection (frame range)
        old_coll[key] = new_coll[key]
    existing = {k: o for o in old_coll.objects if (k := _key(o)) is not None}
    final: dict[bpy.types.Object, bpy.types.Object] = {}
    names: dict[str, str] = {}
    for new in list(new_coll.objects):
        key = _key(new)
        old = existing.get(key) if key is not None else None
        names[new.name] = old.name if old is not None else new.name
        if old is not None:
            adopt(old, new)
            final[new] = old
        else:
            old_coll.objects.link(new)
            new_coll.objects.unlink(new)
            final[new] = new
    for obj in set(final.values()):  # point what the new import made at the adopting objects
        if obj.parent in final:
            obj.parent = final[obj.parent]
        for mod in obj.modifiers:
            if mod.type == "ARMATURE" and mod.object in final:
                mod.object = final[mod.object]
    if scene.camera in final:
        scene.camera = final[scene.camera]
    matched = {k for k in existing if any(_key(n) == k for n in final)}
    for new, obj in final.items():
        if obj is not new:
            bpy.data.objects.remove(new)
    bpy.data.collections.remove(new_coll)
    for key, obj in existing.items():  # blocks drawn from the old result's feet alone
        if key[0] == "support" and key not in matched:
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0:
                bpy.data.meshes.remove(data)
    kept = sorted(o.name for k, o in existing.items() if k not in matched and k[0] == "rig")
    return names, kept
