"""Split, delete and merge people for real: a movie strip -> Analyze (real backend) -> the
person cut into two pieces with frames between them that nobody is seen in (``genhmr.split_person``
twice and ``genhmr.delete_person`` on the middle piece: the warm backend splits and drops in the
job folder too, so refinement re-runs on a split-off person and importing the result again does
not bring the deleted one back) -> ``genhmr.merge_people`` (the warm backend merges the tracks
and solves the joined one again) -> one rig keyed over both pieces and the gap, with the new
body shape; undo brings both rigs back; a failed or cancelled merge or split leaves the rigs as
they were; with the job folder gone the edits are made on the rigs alone, and the message says
so. Undo reaches the job folder too (the revision the scene shows): a deleted person brought
back by undo re-runs, redo deletes it again, and after undoing the merge both rigs split in
the analysis.

Usage: python merge_people.py VIDEO JOBS_DIR
"""

import contextlib
import hashlib
import os
import shutil
import sys
import time

import bpy
import numpy as np
from _driver import PACKAGE, analyze_clip_part, emit, enable, fcurves_of, module

enable()
JOINT_NAMES = module("genhmr_blender._core").skeleton.JOINT_NAMES
video, jobs = sys.argv[1:3]
scene = bpy.context.scene
# Video frames 30..41 at scene frames 31..42.
analyzed, result_path = analyze_clip_part(video, jobs, 30, 12)
out = {"analyze": sorted(analyzed)}
job_dir = os.path.dirname(result_path)
people = module("genhmr_blender.rig.people")


def runtime():
    return bpy.context.window_manager.genhmr


def keyed(name: str) -> list[int]:
    return people.keyed_frames(bpy.data.objects[name]).tolist()


def keys(name: str) -> dict[str, tuple[list[float], list[float]]]:
    return {f"{fc.data_path}[{fc.array_index}]": ([k.co.x for k in fc.keyframe_points],
                                                 [k.co.y for k in fc.keyframe_points])
            for fc in fcurves_of(bpy.data.objects[name])}


def merge(other: str, **kw) -> list[str]:
    """The operator's result; ["ERROR"] when it reported an error (scripts see an exception)."""
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = bpy.data.objects[keep]
    try:
        return sorted(bpy.ops.genhmr.merge_people(other=other, **kw))
    except RuntimeError:
        return ["ERROR"]


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def track_ids() -> list[int]:
    with np.load(result_path) as data:
        return data["track_ids"].tolist()


def rig_names() -> list[str]:
    return sorted(o.name for o in bpy.data.objects if people.is_person(o))


def revision() -> int:
    """The job folder revision the scene's rigs show (on their import's collection)."""
    coll = next(c for c in bpy.data.collections if c.get("genhmr_import"))
    return int(coll["genhmr_job_revision"])


REFUSED = [""]  # what the last operator refused with (a script sees the report as an error)


def on(name: str, op, **kw) -> list[str]:
    """Run a people operator on rig ``name`` (active, nothing selected); ["ERROR"] when it
    reported an error (scripts see an exception)."""
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = bpy.data.objects[name]
    try:
        return sorted(op(**kw))
    except RuntimeError as exc:
        REFUSED[0] = str(exc)
        return ["ERROR"]


# Cut the person seen longest into two pieces, with video frames cut..cut+3 between them, with
# the panel's Split (twice) and Delete, which the backend makes in the job folder too.
rigs = [o for o in bpy.data.objects if people.is_person(o)]
rig = max(rigs, key=lambda o: len(people.keyed_frames(o)))
keep, track = rig.name, int(rig["genhmr_track"])
coll = next(c for c in rig.users_collection if c.get("genhmr_import"))
offset = int(coll["genhmr_frame_offset"])
whole = keyed(keep)
cut = whole[3] - offset
middle = max(track_ids()) + 1
split_op, delete_op = bpy.ops.genhmr.split_person, bpy.ops.genhmr.delete_person
# Bad input first: a split where the rig has keys on one side only changes nothing.
names, state = rig_names(), keys(keep)
scene.frame_set(whole[0])
out["split_bad"] = {"status": on(keep, split_op), "unchanged": rig_names() == names
                    and keys(keep) == state, "tracks": track_ids()}
scene.frame_set(cut + offset)
status = on(keep, split_op)
between = f"GenHMR_person_{middle}"
out["split"] = {"status": status, "message": runtime().status, "keep": keyed(keep),
                "new": keyed(between) if between in bpy.data.objects else [],
                "tracks": track_ids()}
scene.frame_set(cut + 4 + offset)
on(between, split_op)
other = f"GenHMR_person_{middle + 1}"
# The person split off is a person of the analysis: refinement re-runs on it.
other_keys = keyed(other)
status = on(other, bpy.ops.genhmr.refine_range, frame_start=other_keys[0],
            frame_end=other_keys[-1])
out["rerun_new"] = {"status": status, "message": runtime().status, "error": runtime().error,
                    "keyed": keyed(other), "before": other_keys}

# Delete, undo, redo, undo: the job folder follows the revision the scene shows, so the person
# brought back by the undo is a person of the analysis again and refinement re-runs on it.
bpy.ops.ed.undo_push(message="before the delete")
revisions = [revision()]
status = on(between, delete_op)
revisions.append(revision())
bpy.ops.ed.undo_push(message="Delete Person")
bpy.ops.ed.undo()
back = between in rig_names()
revisions.append(revision())
bpy.ops.ed.redo()
redone = between not in rig_names()
revisions.append(revision())
bpy.ops.ed.undo()
scene = bpy.context.scene  # undo reloads the file's data: old references are gone
revisions.append(revision())
between_keys = keyed(between)
rerun_status = on(between, bpy.ops.genhmr.refine_range, frame_start=between_keys[0],
                  frame_end=between_keys[-1])
out["undo_delete"] = {"deleted": status, "back": back, "redone": redone,
                      "rerun": rerun_status, "message": runtime().status,
                      "error": runtime().error or REFUSED[0], "tracks": track_ids(),
                      "revisions": [*revisions, revision()]}
bpy.ops.ed.undo_push(message="Re-run on Range")


# The modal path (what an artist's click runs): without a window event Blender calls execute
# (blocking) for INVOKE_DEFAULT, and its event loop does not run in a script, so the driver
# starts the operator the way invoke does (_run_modal) and plays the event loop, sending the
# running operator timer events (and Esc) as Blender would.
class GENHMR_OT_test_refine_modal(module("genhmr_blender.ops.refine_range")
                                  .GENHMR_OT_refine_range):
    bl_idname = "genhmr.test_refine_modal"

    def execute(self, context: bpy.types.Context) -> set[str]:
        return self._run_modal(context)


bpy.utils.register_class(GENHMR_OT_test_refine_modal)


class Event:
    def __init__(self, kind: str, value: str = "NOTHING") -> None:
        self.type, self.value = kind, value


def modal_rerun(name: str, esc: bool) -> dict:
    first, last = keyed(name)[0], keyed(name)[-1]
    state = keys(name)
    started = on(name, bpy.ops.genhmr.test_refine_modal, frame_start=first, frame_end=last,
                 smoothing=3.0)
    op = module("genhmr_blender.ops._backend_op").ACTIVE["op"]
    steps, status = 0, {"PASS_THROUGH"}
    if esc:
        status = op.modal(bpy.context, Event("ESC", "PRESS"))
    t0 = time.monotonic()
    while status == {"PASS_THROUGH"} and time.monotonic() - t0 < 120:
        time.sleep(0.1)
        status = op.modal(bpy.context, Event("TIMER"))
        steps += 1
    return {"started": started, "status": sorted(status), "steps": steps,
            "message": runtime().status, "running": runtime().running,
            "active": module("genhmr_blender.ops._backend_op").ACTIVE["op"] is not None,
            "timer": op._timer is not None, "changed": keys(name) != state}


out["modal"] = {"done": modal_rerun(other, esc=False), "esc": modal_rerun(other, esc=True)}


# Split and Delete from the panel run modally too: here as an artist's click runs them (the
# window's event loop played by hand, as above). A registered subclass of a people operator
# breaks the real one's poll in bpy, so the real class is switched to its modal path for the
# call instead, and back after.
@contextlib.contextmanager
def modal_from_script(cls):
    saved = cls.__dict__.get("_interactive"), cls.__dict__.get("execute")
    cls._interactive = lambda self, context: True
    cls.execute = lambda self, context: self._begin(context, modal=True)
    try:
        yield
    finally:
        for name, value in zip(("_interactive", "execute"), saved, strict=True):
            if value is None:
                delattr(cls, name)
            else:
                setattr(cls, name, value)


people_ops = module("genhmr_blender.ops.people")


def play(started: list[str], esc: bool) -> dict:
    """Timer events (and Esc first) to the running operator until it ends."""
    op = module("genhmr_blender.ops._backend_op").ACTIVE["op"]
    status = {"PASS_THROUGH"}
    if op is not None and esc:
        status = op.modal(bpy.context, Event("ESC", "PRESS"))
    t0 = time.monotonic()
    while op is not None and status == {"PASS_THROUGH"} and time.monotonic() - t0 < 120:
        time.sleep(0.1)
        status = op.modal(bpy.context, Event("TIMER"))
    return {"started": started, "status": sorted(status), "message": runtime().status,
            "running": runtime().running,
            "active": module("genhmr_blender.ops._backend_op").ACTIVE["op"] is not None}


# Esc on a split: the rig, the analysis's people and the revision the scene shows stay.
scene.frame_set(keyed(other)[2])
state, names, at = keys(other), rig_names(), revision()
digests = {f: digest(os.path.join(job_dir, f)) for f in ("result.npz", "tracks.npz")}
with modal_from_script(people_ops.GENHMR_OT_split_person):
    run = play(on(other, split_op), esc=True)
out["modal_split_esc"] = {**run, "unchanged": keys(other) == state and rig_names() == names,
                          "revision": [at, revision()],
                          "folder_unchanged": all(digest(os.path.join(job_dir, f)) == d
                                                  for f, d in digests.items())}
# Delete, to the end: the ghost goes from the scene and from the analysis.
with modal_from_script(people_ops.GENHMR_OT_delete_person):
    run = play(on(between, delete_op), esc=False)
# a driver-registered operator left registered crashes bpy 4.2's exit handlers
bpy.utils.unregister_class(GENHMR_OT_test_refine_modal)
status = run["status"]
out["drop"] = {"status": status, "message": runtime().status, "rigs": rig_names(),
               "tracks": track_ids(), "modal": run}
# Importing the result again updates the rigs; the ghost deleted does not come back.
out["import"] = sorted(bpy.ops.genhmr.import_result(filepath=result_path, frame_offset=offset))
out["drop"]["after_import"] = rig_names()
pieces = {"keep": keyed(keep), "other": keyed(other)}
out["pieces"] = pieces
out["keep"] = keep
out["tracks_in_pieces"], out["other_track"] = track_ids(), middle + 1
out["whole"] = whole
before = {keep: keys(keep), other: keys(other)}


def unchanged() -> bool:
    return all(n in bpy.data.objects and keys(n) == k for n, k in before.items())


# A failure in the backend (a damaged job folder) and a cancel: both rigs stay as they were.
# The analysis's stage 1 is damaged in place: the job folder's file and the revision that keeps
# it are one file (a hard link), and the backend brings the folder's files to the revision.
stage1 = os.path.join(job_dir, "stage1.npz")
shutil.copyfile(stage1, stage1 + ".saved")
with open(stage1, "r+b") as f:
    f.truncate()
    f.write(b"PK\x03\x04 not a zip")
status = merge(other)
out["failed"] = {"status": status, "error": runtime().error, "unchanged": unchanged()}
scene.frame_set(pieces["keep"][1])
status = on(keep, split_op)
out["failed_split"] = {"status": status, "error": runtime().error, "unchanged": unchanged(),
                       "rigs": rig_names(), "refused": REFUSED[0]}
shutil.copyfile(stage1 + ".saved", stage1)  # in place again
os.unlink(stage1 + ".saved")
result_digest = digest(result_path)
status = merge(other, timeout=0.001)
out["cancel"] = {"status": status, "message": runtime().status, "unchanged": unchanged(),
                 "result_unchanged": digest(result_path) == result_digest}

# No backend (a wrong interpreter in the preferences): the keys are merged as they are.
bpy.ops.ed.undo_push(message="before the merges")
prefs = bpy.context.preferences.addons[PACKAGE].preferences
backend = prefs.backend_python
prefs.backend_python = os.path.join(jobs, "no-python")
status = merge(other)
out["no_backend"] = {"status": status, "message": runtime().status, "keyed": keyed(keep),
                     "result_unchanged": digest(result_path) == result_digest}
bpy.ops.ed.undo_push(message="Merge Person into Active")
bpy.ops.ed.undo()
scene = bpy.context.scene
prefs.backend_python = backend
out["no_backend"]["undone"] = unchanged()

# The merge, solved again.
bones = bpy.data.objects[keep].data.bones
rest_before = np.array([bones[n].head_local for n in JOINT_NAMES])
t0 = time.perf_counter()
status = merge(other)
seconds = time.perf_counter() - t0
rig = bpy.data.objects[keep]
frames = keyed(keep)
core = module("genhmr_blender._core")
result = core.result_format.load_result(result_path)
q = result.track_ids.tolist().index(track)
valid = result.valid[q]
height, turn = module("genhmr_blender.rig.build").scene_placement(result)
root_world = core.scene_space.camera_to_world(
    result.transl[q] + result.rest_joints[q, 0], height, turn)[valid]
pelvis = []
for f in range(frames[0], frames[-1] + 1):
    scene.frame_set(f)
    pelvis.append(tuple(rig.matrix_world @ rig.pose.bones["pelvis"].head))
pelvis = np.array(pelvis)
seen = result.frame_indices[valid] + offset
# The kept rig has the merged person's new shape: its bones at the result's rest joints, its
# body's shape keys at the result's betas, and every body joint where the result puts it.
rest_after = np.array([rig.data.bones[n].head_local for n in JOINT_NAMES])
rest_result = core.scene_space.rest_joints_in_armature(result.rest_joints[q])
body = next(o for o in rig.children if o.get("genhmr_role") == "body")
shape = [body.data.shape_keys.key_blocks[n].value for n in result.body.shape_names]
joints_world = core.scene_space.camera_to_world(result.joints3d[q], height, turn)
joint_error = 0.0
for f in seen[::3]:
    scene.frame_set(int(f))
    posed = np.array([rig.matrix_world @ rig.pose.bones[n].head for n in JOINT_NAMES[:22]])
    row = int(np.flatnonzero(result.frame_indices + offset == f)[0])
    joint_error = max(joint_error, float(np.abs(posed - joints_world[row, :22]).max()))
# ... and its body at the result's size (the merged person is sized on the floor again)
basis = np.empty(len(body.data.vertices) * 3, np.float32)
body.data.shape_keys.key_blocks["Basis"].data.foreach_get("co", basis)
size = float(result.body_scales()[q])
basis_want = core.scene_space.rest_joints_in_armature(size * result.body.vertices)
reshaped = {"rest_error_m": float(np.abs(rest_after - rest_result).max()),
            "size_error_m": float(np.abs(basis.reshape(-1, 3) - basis_want).max()),
            "body_scale": size,
            "rest_change_m": float(np.abs(rest_before - rest_result).max()),
            "shape_error": float(np.abs(np.array(shape)
                                        - result.betas[q][:len(shape)]).max()),
            "joint_error_m": joint_error, "mode": rig.mode,
            "active": bpy.context.view_layer.objects.active.name}
scene.frame_set(cut + 1 + offset)
out["merge"] = {
    "status": status, "seconds": seconds, "message": runtime().status, "error": runtime().error,
    "keyed": frames, "left": sorted(o.name for o in bpy.data.objects if people.is_person(o)),
    "objects_of_other": sorted(o.name for o in bpy.data.objects if o.name.startswith(other)),
    "orphans": sorted(b.name for pool in (bpy.data.actions, bpy.data.armatures)
                      for b in pool if b.users == 0),
    "tracks": track_ids(),
    "pelvis_steps": np.linalg.norm(np.diff(pelvis, axis=0), axis=-1).tolist(),
    # the rig's pelvis where the result puts it (the scene's world frame), on the seen frames
    "pelvis_error_m": float(np.abs(pelvis[seen - frames[0]] - root_world).max()),
    "visible_in_gap": not rig.hide_viewport,
    "markers": sorted((m.frame, m.name) for m in scene.timeline_markers),
    "reshaped": reshaped,
}

# From the UI, Blender pushes the operator's one undo step when it finishes (bl_options UNDO);
# an operator called from a background script does not, so the driver pushes it.
bpy.ops.ed.undo_push(message="Merge Person into Active")
bpy.ops.ed.undo()
scene = bpy.context.scene  # undo reloads the file's data: old references are gone
out["undo"] = {"restored": unchanged()}

# After the undo the analysis has both people again (the scene's revision): each splits in the
# job folder, not in Blender alone. (One undo step takes both splits back.)
bpy.ops.ed.undo_push(message="before the splits")
splits = []
for name in (keep, other):
    scene.frame_set(keyed(name)[1])
    status = on(name, split_op)
    splits.append({"status": status, "message": runtime().status})
out["undo"]["splits"] = splits
out["undo"]["tracks_after_splits"] = track_ids()
bpy.ops.ed.undo_push(message="Split at Current Frame")
bpy.ops.ed.undo()
scene = bpy.context.scene
out["undo"]["restored_after_splits"] = unchanged()

# The analysis folder is gone: the keys are merged as they are, and the message says why.
os.rename(job_dir, job_dir + "-moved")
status = merge(other)
out["gone"] = {"status": status, "message": runtime().status, "keyed": keyed(keep),
               "left": sorted(o.name for o in bpy.data.objects if people.is_person(o))}
# ... and Split and Delete are made on the rigs alone, saying so.
scene.frame_set(out["gone"]["keyed"][1])
status = on(keep, split_op)
out["gone"]["split"] = {"status": status, "message": runtime().status, "rigs": rig_names()}
twin = next((n for n in rig_names() if n != keep), keep)
status = on(twin, delete_op)
out["gone"]["delete"] = {"status": status, "message": runtime().status, "rigs": rig_names()}
os.rename(job_dir + "-moved", job_dir)

module("genhmr_blender.warm_backend").shutdown()
out["shut_down"] = not module("genhmr_blender.warm_backend").is_warm()
emit(out)
