"""Merge two rigs that are one person, for real: a movie strip -> Analyze (real backend) -> the
person cut into two pieces with frames between them that nobody is seen in (the backend's own
``genhmr split`` / ``drop`` on the job folder, imported again) -> ``genhmr.merge_people`` (the
warm backend merges the tracks and solves the joined one again) -> one rig keyed over both
pieces and the gap; undo brings both rigs back; a failed or cancelled merge leaves both as they
were; with the job folder gone the keys are merged as they are, and the message says so.

Usage: python merge_people.py VIDEO JOBS_DIR
"""

import hashlib
import os
import subprocess
import sys
import time

import bpy
import numpy as np
from _driver import PACKAGE, emit, enable, fcurves_of, module, strips_of

enable()
video, jobs = sys.argv[1:3]
backend = os.environ.get("GENHMR_BACKEND_PYTHON", sys.executable)
bpy.context.preferences.addons[PACKAGE].preferences.backend_python = backend
scene = bpy.context.scene
editor = scene.sequence_editor_create()
strip = strips_of(editor).new_movie("walk", video, channel=1, frame_start=1)
strip.frame_offset_start = 30  # video frames 30..41 at scene frames 31..42
strip.frame_final_duration = 12
editor.active_strip = strip
out = {"analyze": sorted(bpy.ops.genhmr.analyze(out_dir=os.path.join(jobs, "job"),
                                                 timeout=600))}
result_path = bpy.context.window_manager.genhmr.result_path
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


def genhmr(*args: str) -> None:
    """The backend's command line on the job folder."""
    subprocess.run([backend, "-m", "genhmr", *args], check=True, capture_output=True)


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def track_ids() -> list[int]:
    with np.load(result_path) as data:
        return data["track_ids"].tolist()


# Cut the person seen longest into two pieces, with video frames cut..cut+3 between them.
rigs = [o for o in bpy.data.objects if people.is_person(o)]
rig = max(rigs, key=lambda o: len(people.keyed_frames(o)))
keep, track = rig.name, int(rig["genhmr_track"])
coll = next(c for c in rig.users_collection if c.get("genhmr_import"))
offset = int(coll["genhmr_frame_offset"])
whole = keyed(keep)
cut = whole[3] - offset
middle = max(track_ids()) + 1
genhmr("split", job_dir, "--person", str(track), "--frame", str(cut))
genhmr("split", job_dir, "--person", str(middle), "--frame", str(cut + 4))
genhmr("drop", job_dir, "--person", str(middle))
out["import"] = sorted(bpy.ops.genhmr.import_result(filepath=result_path, frame_offset=offset))
other = f"GenHMR_person_{middle + 1}"
pieces = {"keep": keyed(keep), "other": keyed(other)}
out["pieces"] = pieces
out["keep"] = keep
out["tracks_in_pieces"], out["other_track"] = track_ids(), middle + 1
out["whole"] = whole
before = {keep: keys(keep), other: keys(other)}


def unchanged() -> bool:
    return all(n in bpy.data.objects and keys(n) == k for n, k in before.items())


# A failure in the backend (a damaged job folder) and a cancel: both rigs stay as they were.
stage1 = os.path.join(job_dir, "stage1.npz")
os.rename(stage1, stage1 + ".saved")
with open(stage1, "wb") as f:
    f.write(b"PK\x03\x04 not a zip")
status = merge(other)
out["failed"] = {"status": status, "error": runtime().error, "unchanged": unchanged()}
os.replace(stage1 + ".saved", stage1)
result_digest = digest(result_path)
status = merge(other, timeout=0.001)
out["cancel"] = {"status": status, "message": runtime().status, "unchanged": unchanged(),
                 "result_unchanged": digest(result_path) == result_digest}

# No backend (a wrong interpreter in the preferences): the keys are merged as they are.
bpy.ops.ed.undo_push(message="before the merges")
prefs = bpy.context.preferences.addons[PACKAGE].preferences
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
t0 = time.perf_counter()
status = merge(other)
seconds = time.perf_counter() - t0
rig = bpy.data.objects[keep]
frames = keyed(keep)
result = module("genhmr_blender._core").result_format.load_result(result_path)
q = result.track_ids.tolist().index(track)
valid = result.valid[q]
height, turn = module("genhmr_blender.rig.build").scene_placement(result)
root_world = module("genhmr_blender._core").scene_space.camera_to_world(
    result.transl[q] + result.rest_joints[q, 0], height, turn)[valid]
pelvis = []
for f in range(frames[0], frames[-1] + 1):
    scene.frame_set(f)
    pelvis.append(tuple(rig.matrix_world @ rig.pose.bones["pelvis"].head))
pelvis = np.array(pelvis)
seen = result.frame_indices[valid] + offset
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
}

# From the UI, Blender pushes the operator's one undo step when it finishes (bl_options UNDO);
# an operator called from a background script does not, so the driver pushes it.
bpy.ops.ed.undo_push(message="Merge Person into Active")
bpy.ops.ed.undo()
scene = bpy.context.scene  # undo reloads the file's data: old references are gone
out["undo"] = {"restored": unchanged()}

# The analysis folder is gone: the keys are merged as they are, and the message says why.
os.rename(job_dir, job_dir + "-moved")
status = merge(other)
out["gone"] = {"status": status, "message": runtime().status, "keyed": keyed(keep),
               "left": sorted(o.name for o in bpy.data.objects if people.is_person(o))}
os.rename(job_dir + "-moved", job_dir)

module("genhmr_blender.warm_backend").shutdown()
out["shut_down"] = not module("genhmr_blender.warm_backend").is_warm()
emit(out)
