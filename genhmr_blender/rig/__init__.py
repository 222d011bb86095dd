"""Building Blender data from a result: armatures, keyframes, camera (thin ``bpy`` builders)."""
