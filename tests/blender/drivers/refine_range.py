"""Re-run refinement on a range of a rig, for real: a movie strip -> Analyze (real backend) ->
``genhmr.refine_range`` on a range (the warm backend re-enters the job) -> only that range's
keys change, the ends join the neighbours, undo restores the keys and the job folder revision
the scene shows (a re-run after the undo starts from the analysis, not from the undone re-run),
redo brings the re-run back, Cancel and errors leave the rig as it was.

Usage: python refine_range.py VIDEO JOBS_DIR
"""

import hashlib
import os
import sys
import time

import bpy
import numpy as np
from _driver import analyze_clip_part, emit, enable, fcurves_of, module

enable()
video, jobs = sys.argv[1:3]
scene = bpy.context.scene
# Video frames 40..69 at scene frames 41..70.
analyzed, result_path = analyze_clip_part(video, jobs, 40, 30)
out = {"analyze": sorted(analyzed)}


def runtime():
    return bpy.context.window_manager.genhmr


def rerun(**kw) -> list[str]:
    """The operator's result; ["ERROR"] when it reported an error (scripts see an exception)."""
    try:
        return sorted(bpy.ops.genhmr.refine_range(**kw))
    except RuntimeError:
        return ["ERROR"]


def keys(rig: bpy.types.Object) -> dict[str, tuple[list[float], list[float]]]:
    return {f"{fc.data_path}[{fc.array_index}]": ([k.co.x for k in fc.keyframe_points],
                                                 [k.co.y for k in fc.keyframe_points])
            for fc in fcurves_of(rig)}


def changed(before: dict, after: dict, first: int, last: int) -> dict[str, list]:
    """Per channel: frames whose key differs (or appeared / vanished)."""
    out = {}
    for name in sorted(set(before) | set(after)):
        a = dict(zip(*before.get(name, ([], [])), strict=True))
        b = dict(zip(*after.get(name, ([], [])), strict=True))
        frames = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
        if frames:
            out[name] = frames
    return out


def heads(rig: bpy.types.Object, frames: range) -> np.ndarray:
    """World positions of every bone's head per frame (F, B, 3)."""
    pos = []
    for f in frames:
        scene.frame_set(f)
        pos.append([tuple(rig.matrix_world @ pb.head) for pb in rig.pose.bones])
    return np.array(pos)


def digest(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def revision() -> int:
    """The job folder revision the scene's rigs show (on their import's collection)."""
    coll = next(c for c in bpy.data.collections if c.get("genhmr_import"))
    return int(coll["genhmr_job_revision"])


def result_rows(frames: tuple[int, int]) -> np.ndarray:
    """The job folder's result.npz (its current files): the rig's person's joints over
    ``frames`` (scene frames, both included)."""
    with np.load(result_path) as data:
        p = data["track_ids"].tolist().index(track)
        inside = (data["frame_indices"] + 1 >= frames[0]) & (data["frame_indices"] + 1 <= frames[1])
        return data["joints3d"][p, inside]


people = [o for o in bpy.data.objects if o.get("genhmr_role") == "rig"]
rig = max(people, key=lambda o: len(module("genhmr_blender.rig.people").keyed_frames(o)))
name, track = rig.name, int(rig["genhmr_track"])
analysed = result_rows((48, 62))
revisions = [revision()]
bpy.context.view_layer.objects.active = rig
span = range(41, 71)
first, last = 48, 62
before = keys(rig)
heads_before = heads(rig, span)
bpy.ops.ed.undo_push(message="before the re-run")
t0 = time.perf_counter()
status = sorted(bpy.ops.genhmr.refine_range(frame_start=first, frame_end=last, smoothing=20.0,
                                            steps=150))
rig = bpy.data.objects[name]
after = keys(rig)
moved = changed(before, after, first, last)
all_frames = sorted({f for frames in moved.values() for f in frames})
heads_after = heads(rig, span)
out["rerun"] = {
    "status": status, "seconds": time.perf_counter() - t0, "error": runtime().error,
    "message": runtime().status, "changed_frames": all_frames,
    "rotation_channels_changed": sum(1 for n in moved if "rotation_quaternion" in n),
    "step_before": np.linalg.norm(np.diff(heads_before, axis=0), axis=-1).mean(-1).tolist(),
    "step_after": np.linalg.norm(np.diff(heads_after, axis=0), axis=-1).mean(-1).tolist(),
    "moved_m": float(np.abs(heads_after - heads_before).max()),
}
revisions.append(revision())
rerun_rows = result_rows((48, 62))

# From the UI, Blender pushes the operator's one undo step when it finishes (bl_options UNDO);
# an operator called from a background script does not, so the driver pushes it.
bpy.ops.ed.undo_push(message="Re-run on Range")
bpy.ops.ed.undo()
rig = bpy.data.objects[name]
scene = bpy.context.scene  # undo reloads the file's data: old references are gone
out["undo"] = {"restored": keys(rig) == before}
revisions.append(revision())
# Redo brings the re-run back, keys and revision; undo again.
bpy.ops.ed.redo()
out["redo"] = {"restored": keys(bpy.data.objects[name]) == after}
revisions.append(revision())
bpy.ops.ed.undo()
scene = bpy.context.scene
rig = bpy.data.objects[name]
revisions.append(revision())
out["undo"]["again"] = keys(rig) == before
# A re-run of another range now starts from the state the scene shows, the analysis: the
# first range is as analysed in the job folder's result again, not as the undone re-run left it.
bpy.context.view_layer.objects.active = rig
status = rerun(frame_start=65, frame_end=70)
revisions.append(revision())
out["after_undo"] = {"status": status, "error": runtime().error,
                     "first_range_as_analysed": bool(np.array_equal(result_rows((48, 62)),
                                                                    analysed)),
                     "rerun_had_changed_it": not np.array_equal(rerun_rows, analysed),
                     "revisions": revisions}

# The warm backend, the whole preview range (30 frames), the panel's defaults.
bpy.context.view_layer.objects.active = rig
scene.use_preview_range = True
scene.frame_preview_start, scene.frame_preview_end = 41, 70
warm = module("genhmr_blender.warm_backend").is_warm()
t0 = time.perf_counter()
status = sorted(bpy.ops.genhmr.refine_range())
out["warm"] = {"status": status, "seconds": time.perf_counter() - t0, "was_warm": warm,
               "message": runtime().status}

# Bones fixed by hand stay as they are.
rig = bpy.data.objects[name]
for pb in rig.pose.bones:
    selected = pb.name == "left_elbow"
    if hasattr(pb, "select"):
        pb.select = selected
    else:
        pb.bone.select = selected
before = keys(rig)
status = sorted(bpy.ops.genhmr.refine_range(frame_start=50, frame_end=60, smoothing=20.0,
                                            keep_selected_bones=True))
moved = changed(before, keys(rig), 50, 60)
out["keep"] = {"status": status, "elbow_changed": [n for n in moved if "left_elbow" in n],
               "others_changed": len(moved)}

# Cancel at once: the rig and the job folder stay as they were.
before, result_digest = keys(rig), digest(result_path)
status = sorted(bpy.ops.genhmr.refine_range(frame_start=50, frame_end=60, timeout=0.001))
out["cancel"] = {"status": status, "unchanged": keys(rig) == before,
                 "result_unchanged": digest(result_path) == result_digest,
                 "message": runtime().status}

# A rig that does not know its analysis, and a job folder that is gone.
coll = next(c for c in rig.users_collection if c.get("genhmr_import"))
saved = coll["genhmr_result"]
del coll["genhmr_result"]
status = rerun(frame_start=50, frame_end=60)
out["unknown"] = {"status": status, "error": runtime().error, "unchanged": keys(rig) == before}
coll["genhmr_result"] = saved
job_dir = os.path.dirname(saved)
os.rename(job_dir, job_dir + "-moved")
status = rerun(frame_start=50, frame_end=60)
out["gone"] = {"status": status, "error": runtime().error, "unchanged": keys(rig) == before}
os.rename(job_dir + "-moved", job_dir)
# the person is not in those frames
status = rerun(frame_start=500, frame_end=520)
out["outside"] = {"status": status, "error": runtime().error, "unchanged": keys(rig) == before}

module("genhmr_blender.warm_backend").shutdown()
out["shut_down"] = not module("genhmr_blender.warm_backend").is_warm()
emit(out)
