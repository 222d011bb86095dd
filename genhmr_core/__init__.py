"""Pure-Python/numpy core shared by the Blender add-on and the backend.

Nothing in this package imports ``bpy`` or ``torch``: it holds the contracts between the two
processes (skeleton, keypoint names, result file format, wire protocol) and the maths both sides
need (rotations, camera conversions). Blender's bundled Python has numpy but not scipy, so numpy
is the only third-party import allowed here.
"""
