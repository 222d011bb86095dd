"""Retargeting GenHMR motion onto the artist's own armatures (pure maths, no ``bpy``).

* :mod:`.naming` reads a bone name: which side, which body part (Mixamo, Unreal, Rigify and
  the usual hand-made schemes).
* :mod:`.mapping` maps our joints onto a target's bones: automatically (rig family presets,
  names, hierarchy and rest geometry as tie-breakers), validated, saved as JSON presets.
* :mod:`.motion` turns the source's world rotations into the target's (rest-pose corrected, so a
  T-posed source drives an A-posed character) and its root trajectory (scaled by leg length).

The Blender side (``genhmr_blender/retarget``) only reads armatures into these types, evaluates
the poses and writes keys.
"""

from . import mapping, motion, naming, presets, source

__all__ = ["mapping", "motion", "naming", "presets", "source"]
