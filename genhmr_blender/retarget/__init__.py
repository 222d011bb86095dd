"""Retarget GenHMR rigs onto the artist's armatures (Blender side of ``genhmr_core.retarget``)."""
