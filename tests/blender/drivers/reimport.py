"""Import a result, build on it as an artist would, import a newer result of the same video.

Usage: python reimport.py FIRST.npz SECOND.npz
(SECOND: the same video, other motion, people 3 and 9 where FIRST had 3 and 7.)

Measured: what the second import added or removed (per data-block type), any ``.001`` name,
whether person 3's rig is the same object (the artist's property, a prop parented to its head
bone, their collection, a character's retarget source), whether it moves as the second result
says (against a fresh import of it in its own collection), and the report's warnings.
"""

import sys

import bpy
import numpy as np
from _driver import data_counts, emit, enable, module

enable()
first, second = sys.argv[1], sys.argv[2]
bpy.ops.genhmr.import_result(filepath=first, frame_offset=1)
rig = bpy.data.objects["GenHMR_person_3"]
# What an artist builds on the first import.
rig["artist"] = "keep"
prop = bpy.data.objects.new("prop", None)
bpy.context.scene.collection.objects.link(prop)
prop.parent, prop.parent_type, prop.parent_bone = rig, "BONE", "head"
mine = bpy.data.collections.new("Artist stuff")
bpy.context.scene.collection.children.link(mine)
mine.objects.link(rig)
character = bpy.data.objects.new("Character", bpy.data.armatures.new("Character"))
bpy.context.scene.collection.objects.link(character)
character.genhmr_retarget.source = rig

before = data_counts()
build = module("genhmr_blender.rig.build")
ops = module("genhmr_blender.ops.import_result")
report = ops.import_result_file(bpy.context, second, build.BuildOptions(frame_offset=1))
after = data_counts()
pools = {"objects": bpy.data.objects, "armatures": bpy.data.armatures,
         "meshes": bpy.data.meshes, "cameras": bpy.data.cameras,
         "materials": bpy.data.materials, "actions": bpy.data.actions,
         "collections": bpy.data.collections}
numbered = sorted(b.name for pool in pools.values() for b in pool if ".0" in b.name)
same_rig = bpy.data.objects.get("GenHMR_person_3")

# The updated rig against a fresh import of the second result.
fresh = build.build_result(bpy.context, module("genhmr_core.result_format").load_result(second),
                           build.BuildOptions(frame_offset=1, collection_name="fresh second"))
fresh_rig = bpy.data.objects[fresh.armatures[0]]
scene = bpy.context.scene
worst = 0.0
for frame in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(frame)
    for pb in same_rig.pose.bones:
        got = np.array(same_rig.matrix_world @ pb.head)
        want = np.array(fresh_rig.matrix_world @ fresh_rig.pose.bones[pb.name].head)
        worst = max(worst, float(np.abs(got - want).max()))
emit({"added": {k: after[k] - before[k] for k in after}, "numbered": numbered,
      "report": {"collection": report.collection, "armatures": report.armatures,
                 "meshes": report.meshes, "camera": report.camera, "updated": report.updated,
                 "warnings": report.warnings},
      "same_object": same_rig is not None and same_rig.get("artist") == "keep",
      "prop_parent": prop.parent.name if prop.parent else None,
      "in_artist_collection": same_rig.name in mine.objects,
      "retarget_source": character.genhmr_retarget.source.name
      if character.genhmr_retarget.source else None,
      "bodies_on_rig": sorted(o.name for o in bpy.data.objects
                              if o.type == "MESH" and o.parent == same_rig),
      "max_head_difference_m": worst, "fresh_collection": fresh.collection})
