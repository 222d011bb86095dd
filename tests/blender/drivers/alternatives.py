"""Alternatives for a range of a rig, for real: a movie strip -> Analyze (real backend) ->
``genhmr.sample_alternatives`` on a range (the warm backend samples and refines K readings) ->
the rig keeps its motion until the artist steps through them -> Accept keeps the one shown (a
new job folder revision), undo brings the rig's own keys and revision back; Discard restores
the rig's own keys, hand edits included; Cancel leaves the rig as it was; other edits of a rig
that is choosing wait.

Usage: python alternatives.py VIDEO JOBS_DIR
"""

import os
import sys

import bpy
from _driver import analyze_clip_part, emit, enable, fcurves_of, module

enable()
video, jobs = sys.argv[1:3]
scene = bpy.context.scene
# Video frames 40..69 at scene frames 41..70.
analyzed, result_path = analyze_clip_part(video, jobs, 40, 30)
out = {"analyze": sorted(analyzed)}
job_dir = os.path.dirname(result_path)
PENDING = "genhmr_alternatives"


def keys(rig: bpy.types.Object) -> dict[str, tuple[list[float], list[float]]]:
    return {f"{fc.data_path}[{fc.array_index}]": ([k.co.x for k in fc.keyframe_points],
                                                 [k.co.y for k in fc.keyframe_points])
            for fc in fcurves_of(rig)}


def changed_frames(before: dict, after: dict) -> list[float]:
    frames = set()
    for name in set(before) | set(after):
        a = dict(zip(*before.get(name, ([], [])), strict=True))
        b = dict(zip(*after.get(name, ([], [])), strict=True))
        frames |= {f for f in set(a) | set(b) if a.get(f) != b.get(f)}
    return sorted(frames)


def revision() -> int:
    coll = next(c for c in bpy.data.collections if c.get("genhmr_import"))
    return int(coll["genhmr_job_revision"])


def call(op, **kw) -> list[str]:
    """The operator's result; ["ERROR"] when it refused or reported an error."""
    try:
        return sorted(op(**kw))
    except RuntimeError:
        return ["ERROR"]


def shown(rig: bpy.types.Object) -> int | None:
    return int(rig[PENDING]["shown"]) if PENDING in rig else None


people = [o for o in bpy.data.objects if o.get("genhmr_role") == "rig"]
rig = max(people, key=lambda o: len(module("genhmr_blender.rig.people").keyed_frames(o)))
name = rig.name
bpy.context.view_layer.objects.active = rig
ops = bpy.ops.genhmr
out["idle"] = {"show": ops.show_alternative.poll(), "accept": ops.accept_alternative.poll(),
               "discard": ops.discard_alternatives.poll(), "sample": ops.sample_alternatives.poll()}
own = keys(rig)

# Sample: the rig keeps its own motion and records the choice (one undo step).
bpy.ops.ed.undo_push(message="before sampling")
status = call(ops.sample_alternatives, frame_start=48, frame_end=62, count=3, seed=0)
rig = bpy.data.objects[name]
runtime = bpy.context.window_manager.genhmr
out["sample"] = {"status": status, "error": runtime.error, "message": runtime.status,
                 "unchanged": keys(rig) == own, "shown": shown(rig),
                 "count": len(rig[PENDING]["candidates"]) if PENDING in rig else 0,
                 "range": [rig[PENDING]["first"], rig[PENDING]["last"]] if PENDING in rig else [],
                 "rerun_blocked": not ops.refine_range.poll(),
                 "split_blocked": not ops.split_person.poll(),
                 "sample_blocked": not ops.sample_alternatives.poll(),
                 "accept_needs_a_choice": not ops.accept_alternative.poll()}
bpy.ops.ed.undo_push(message="Sample Alternatives")

# Step through them: each replaces the range's keys only; 0 is the rig's own motion again.
seen = {}
for index in (1, 2, 3):
    status = call(ops.show_alternative, index=index)
    seen[index] = keys(rig)
    seen[f"{index}_status"] = status
step = call(ops.show_alternative, step=1)  # after 3 comes the rig's own motion (wrap round)
out["show"] = {
    "status": [seen["1_status"], seen["2_status"], seen["3_status"], step],
    "changed": {i: changed_frames(own, seen[i]) for i in (1, 2, 3)},
    "distinct": seen[1] != seen[2] and seen[2] != seen[3] and seen[1] != seen[3],
    "wrapped_to_own": keys(rig) == own and shown(rig) == 0,
}

# Accept the second: the keys stay, the job folder has a new revision, the choice is over.
call(ops.show_alternative, index=2)
set_folder = os.path.join(job_dir, "alternatives", rig[PENDING]["set"])
had_set = os.path.isdir(set_folder)
status = call(ops.accept_alternative)
rig = bpy.data.objects[name]
out["accept"] = {"status": status, "error": runtime.error, "keys_are_alternative_2":
                 keys(rig) == seen[2], "revision": revision(), "pending": PENDING in rig,
                 "set_removed": had_set and not os.path.exists(set_folder)}
bpy.ops.ed.undo_push(message="Accept")
bpy.ops.ed.undo()
rig = bpy.data.objects[name]
out["undo"] = {"own_keys": keys(rig) == own, "revision": revision(), "shown": shown(rig)}

# Discard after a hand edit inside the range: the rig's own keys come back, the edit included.
bpy.ops.ed.undo()  # before sampling
rig = bpy.data.objects[name]
bpy.context.view_layer.objects.active = rig
fc = next(f for f in fcurves_of(rig) if f.data_path.endswith("rotation_quaternion"))
key = next(k for k in fc.keyframe_points if 50 <= k.co.x <= 60)
key.co.y += 0.25
edited = keys(rig)
status = call(ops.sample_alternatives, frame_start=48, frame_end=62, count=1, seed=1)
call(ops.show_alternative, index=1)
moved = keys(rig) != edited
discard = call(ops.discard_alternatives)
out["discard"] = {"sampled": status, "alternative_shown": moved, "status": discard,
                  "hand_edit_back": keys(rig) == edited, "pending": PENDING in rig,
                  "revision": revision()}

# Cancel at once: no choice starts, the rig is as it was.
status = call(ops.sample_alternatives, frame_start=48, frame_end=62, count=2, timeout=0.001)
out["cancel"] = {"status": status, "unchanged": keys(rig) == edited, "pending": PENDING in rig}

module("genhmr_blender.warm_backend").shutdown()
emit(out)
