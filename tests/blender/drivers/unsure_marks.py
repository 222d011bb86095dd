"""Where the solve is unsure: confidence curves, timeline markers and bone colours.

Usage: python unsure_marks.py RESULT.npz
(person 3's confidence drops to 0.2 on result frames 6-8 and to 0.6 on 9-10; person 7's stays
1). An artist's own marker "keep me" is there before the import.
"""

import sys

import bpy
from _driver import emit, enable, fcurves_of

enable()
scene = bpy.context.scene
scene.timeline_markers.new("keep me", frame=3)
bpy.ops.genhmr.import_result(filepath=sys.argv[1], with_mesh=False, frame_offset=1)
rig = bpy.data.objects["GenHMR_person_3"]


def markers() -> dict[str, int]:
    return {m.name: m.frame for m in scene.timeline_markers}


def colour(frame: int, bone: str = "left_knee") -> list[float]:
    scene.frame_set(frame)
    return [round(c, 3) for c in rig.pose.bones[bone].color.custom.normal]


curves = {fc.data_path: [[round(k.co.x), round(k.co.y, 4)] for k in fc.keyframe_points]
          for fc in fcurves_of(rig) if fc.data_path.endswith('["genhmr_confidence"]')}
at_import = markers()
colours = {"low": colour(12), "high": colour(8), "palette": rig.pose.bones["left_knee"]
           .color.palette, "show": rig.data.show_bone_colors}
scene.genhmr.unsure_threshold = 0.7  # 0.6 is now unsure too: recoloured on frame change
colours["medium_at_0.7"] = colour(15)
remarked = sorted(bpy.ops.genhmr.mark_unsure())
after = markers()
# Import again, keys only where sure (>= 0.5): the 0.2 frames lose their bone keys.
again = sorted(bpy.ops.genhmr.import_result(filepath=sys.argv[1], with_mesh=False,
                                            frame_offset=1, min_confidence=0.5))
sure_keys = {fc.data_path: sorted({round(k.co.x) for k in fc.keyframe_points})
             for fc in fcurves_of(rig) if fc.array_index == 0
             and fc.data_path.startswith('pose.bones["') and "genhmr" not in fc.data_path}
emit({"again": again, "sure_keys": sure_keys, "markers_again": markers(), "curves": curves,
      "at_import": at_import, "remarked": remarked, "after": after, "colours": colours})
