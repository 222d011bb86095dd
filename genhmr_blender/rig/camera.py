"""The camera that filmed the video, placed so the rigs line up with the footage.

The camera sits at ``(0, 0, height)`` looking along +Y with a level horizon
(:mod:`genhmr_core.scene_space`), with the video's intrinsics turned into lens, sensor and shift.
When the footage's camera turned (the result's ``camera_rotation``), its rotation is keyed on
every frame of the result, so the rigs stay in one world while the view pans over them; when
its lens zoomed (``camera_focal_px``), the camera's lens is keyed on every frame too.
The source video is loaded as a Movie Clip and shown as the camera background, starting at the
scene frame that shows video frame 0, so camera view overlays each rig on its person.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import bpy
import numpy as np

from .._core import scene_space
from .fcurves import new_action, new_fcurve
from .keyframes import write_channel


def build_camera(name: str, camera_K: np.ndarray, image_size: tuple[int, int],
                 camera_height: float, collection: bpy.types.Collection) -> bpy.types.Object:
    settings = scene_space.blender_camera_settings(camera_K, image_size)
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"  # lens is derived from the image width
    data.sensor_width = settings["sensor_width_mm"]
    data.lens = settings["lens_mm"]
    data.shift_x = settings["shift_x"]
    data.shift_y = settings["shift_y"]
    obj = bpy.data.objects.new(name, data)
    obj.location = (0.0, 0.0, float(camera_height))
    obj.rotation_mode = "XYZ"
    obj.rotation_euler = scene_space.CAMERA_EULER_XYZ
    collection.objects.link(obj)
    return obj


def set_rotation(camera: bpy.types.Object, quaternion: np.ndarray) -> None:
    """Turn a fixed camera (quaternion (4,), w first) without keys, keeping Euler XYZ mode."""
    from mathutils import Quaternion

    camera.rotation_euler = Quaternion([float(v) for v in quaternion]).to_euler("XYZ")


def key_rotation(camera: bpy.types.Object, frames: np.ndarray, quaternions: np.ndarray,
                 action_name: str) -> None:
    """Key the camera's rotation (quaternions (F, 4), w first) at scene ``frames`` (F,)."""
    camera.rotation_mode = "QUATERNION"
    camera.rotation_quaternion = tuple(float(v) for v in quaternions[0])
    action = new_action(camera, action_name)
    for axis in range(4):
        fc = new_fcurve(action, camera, "rotation_quaternion", axis, "Camera motion")
        write_channel(fc, np.asarray(frames, dtype=np.float64), quaternions[:, axis])


def key_lens(camera: bpy.types.Object, frames: np.ndarray, focal_px: np.ndarray,
             image_size: tuple[int, int], action_name: str) -> None:
    """Key the camera's lens (its data's ``lens``, mm) at scene ``frames`` (F,) from the
    result's focal length of each frame ``focal_px`` (F,): the footage's zoom, so the rigs stay
    on the people through it. The sensor and shift stay (the principal point does not move),
    so the background clip keeps matching the camera's view."""
    data = camera.data
    lens = scene_space.blender_lens_mm(focal_px, image_size, data.sensor_width)
    data.lens = float(lens[0])
    action = new_action(data, action_name)
    write_channel(new_fcurve(action, data, "lens", 0, "Zoom"),
                  np.asarray(frames, dtype=np.float64), lens)


def load_clip(path: str, frame_offset: int) -> tuple[bpy.types.MovieClip | None, bool]:
    """(clip, newly_loaded) for ``path``; (None, False) when the file is not there.

    ``frame_start`` is the scene frame of the clip's first frame (video frame 0).
    """
    if not path or not os.path.isfile(path):
        return None, False
    before = set(bpy.data.movieclips)
    clip = bpy.data.movieclips.load(path, check_existing=True)
    if clip in before and clip.frame_start - clip.frame_offset != int(frame_offset):
        # The file is already loaded but placed elsewhere on the timeline: a clip of its own.
        clip = bpy.data.movieclips.load(path, check_existing=False)
    created = clip not in before
    if created:
        clip.frame_start = int(frame_offset)
        clip.frame_offset = 0
    return clip, created


def set_background(camera: bpy.types.Object, clip: bpy.types.MovieClip) -> None:
    data = camera.data
    data.show_background_images = True
    bg = data.background_images.new()
    bg.source = "MOVIE_CLIP"
    bg.clip = clip
    bg.frame_method = "STRETCH"  # render aspect == video aspect, so this is exact
    bg.alpha = 1.0


def fps_to_blender(fps: float) -> tuple[int, float]:
    """(fps, fps_base) with fps/fps_base == the video rate, e.g. 29.97 -> (30, 1.001)."""
    if not math.isfinite(fps) or fps <= 0:
        return 24, 1.0
    whole = round(fps)
    if abs(fps - whole) < 1e-3:
        return int(whole), 1.0
    ntsc = Fraction(whole * 1000, 1001)
    if abs(float(ntsc) - fps) < 5e-3:
        return int(whole), 1.001
    return int(whole), whole / fps


def apply_scene_settings(scene: bpy.types.Scene, image_size: tuple[int, int], fps: float,
                         camera: bpy.types.Object) -> None:
    """Resolution and frame rate of the video, and the new camera as the scene camera."""
    scene.render.resolution_x = int(image_size[0])
    scene.render.resolution_y = int(image_size[1])
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = 1.0
    scene.render.pixel_aspect_y = 1.0
    scene.render.fps, scene.render.fps_base = fps_to_blender(fps)
    scene.camera = camera


def snapshot_scene_settings(scene: bpy.types.Scene) -> dict[str, object]:
    """What :func:`apply_scene_settings` changes, so a failed import can put it back."""
    r = scene.render
    return {"resolution_x": r.resolution_x, "resolution_y": r.resolution_y,
            "resolution_percentage": r.resolution_percentage,
            "pixel_aspect_x": r.pixel_aspect_x, "pixel_aspect_y": r.pixel_aspect_y,
            "fps": r.fps, "fps_base": r.fps_base, "camera": scene.camera,
            "frame_start": scene.frame_start, "frame_end": scene.frame_end}


def restore_scene_settings(scene: bpy.types.Scene, saved: dict[str, object]) -> None:
    for key, value in saved.items():
        if key == "camera":
            scene.camera = value
        elif key in ("frame_start", "frame_end"):
            setattr(scene, key, value)
        else:
            setattr(scene.render, key, value)
