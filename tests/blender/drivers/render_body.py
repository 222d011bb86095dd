"""Render a posed body mesh with Workbench and describe the picture.

Usage: python render_body.py RESULT.npz OUT.png FRAME_INDEX

Imports RESULT (defaults: mesh, preserve volume), shows only the first person's mesh at the
result's frame FRAME_INDEX, frames it with an orthographic camera from the front on a light grey
world and renders 320 x 480. Reports the fraction of pixels that are not background, their
bounding box and the mean colour of the body pixels.
"""

import sys

import bpy
import numpy as np
from _driver import emit, enable
from _mesh_eval import evaluated_world_vertices

from genhmr_core import result_format

WIDTH, HEIGHT = 320, 480
BACKGROUND = (0.8, 0.8, 0.8)

enable()
path, out_png, frame = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = result_format.load_result(path)
status = bpy.ops.genhmr.import_result(filepath=path, frame_offset=1)
scene = bpy.context.scene
scene.frame_set(int(res.frame_indices[frame]) + 1)
body = bpy.data.objects[f"GenHMR_person_{int(res.track_ids[0])}_body"]
for obj in bpy.data.objects:  # only the first person's mesh (and the default cube: away)
    obj.hide_render = obj is not body and obj.type != "CAMERA"

verts = evaluated_world_vertices(body)
lo, hi = verts.min(0), verts.max(0)
centre, size = (lo + hi) / 2, hi - lo
cam_data = bpy.data.cameras.new("preview")
cam_data.type = "ORTHO"
cam_data.ortho_scale = 1.15 * max(size[2], size[0] * HEIGHT / WIDTH)
cam = bpy.data.objects.new("preview", cam_data)
scene.collection.objects.link(cam)
cam.location = (centre[0], lo[1] - 5.0, centre[2])  # in front (people face -Y), looking +Y
cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
cam_data.clip_end = 20.0
scene.camera = cam

scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
scene.render.resolution_percentage = 100
scene.render.film_transparent = False
scene.display.shading.light = "STUDIO"
scene.display.shading.color_type = "MATERIAL"
scene.view_settings.view_transform = "Standard"
if scene.world is None:
    scene.world = bpy.data.worlds.new("World")
scene.world.color = BACKGROUND
scene.render.image_settings.file_format = "PNG"
scene.render.filepath = out_png
bpy.ops.render.render(write_still=True)

img = bpy.data.images.load(out_png)
px = np.empty(WIDTH * HEIGHT * 4, dtype=np.float32)
img.pixels.foreach_get(px)
rgb = px.reshape(HEIGHT, WIDTH, 4)[::-1, :, :3]  # Blender's rows start at the bottom
background = np.median(np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]), axis=0)
mask = np.abs(rgb - background).max(-1) > 0.04
rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
emit({
    "status": sorted(status),
    "background": background.tolist(),
    "fraction": float(mask.mean()),
    "bbox_rows": [int(rows.min()), int(rows.max())] if len(rows) else None,
    "bbox_cols": [int(cols.min()), int(cols.max())] if len(cols) else None,
    "body_colour": rgb[mask].mean(0).tolist() if mask.any() else None,
    "mesh_size": size.tolist(),
})
