#!/usr/bin/env python3
"""Render a body in a few poses side by side: the picture of the default body in the docs.

    python tools/render_body_preview.py [--body PATH] [--out docs/images/default_body.png]
        [--size 1000x500] [--engine workbench|cycles] [--samples 16]

Runs in a Python that has the ``bpy`` wheel (``$GENHMR_PYTHON``). ``--body`` is a BodyMesh
``.npz`` (``BodyMesh.to_arrays(prefix="")`` keys, as ``backend/genhmr/body/assets/
default_body.npz``, the default) or an SMPL-X model ``.npz`` (``SMPLX_NEUTRAL.npz``). The rigs
are built with the add-on's own builder (``genhmr_blender.rig.build``, preserve volume on), so
the picture shows what an import gives: one person per pose, each turned a little so the depth
reads, on a light grey background. Blender's user folders point at a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BODY = ROOT / "backend" / "genhmr" / "body" / "assets" / "default_body.npz"
DEFAULT_OUT = ROOT / "docs" / "images" / "default_body.png"
BACKGROUND = (0.8, 0.8, 0.8)

# Joint-local axis-angles (SMPL-X model frame: Y up, facing +Z, subject's left +X).
POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "relaxed": {"left_shoulder": (0.0, 0.0, -1.2), "right_shoulder": (0.0, 0.0, 1.2),
                "left_elbow": (0.0, -0.2, 0.0), "right_elbow": (0.0, 0.2, 0.0)},
    "walking": {"left_hip": (-0.45, 0.0, 0.0), "right_hip": (0.35, 0.0, 0.0),
                "left_knee": (0.3, 0.0, 0.0), "right_knee": (0.6, 0.0, 0.0),
                "left_shoulder": (0.4, 0.0, -1.25), "right_shoulder": (-0.5, 0.0, 1.25),
                "left_elbow": (0.0, -0.4, 0.0), "right_elbow": (0.0, 0.6, 0.0)},
    "reaching": {"left_shoulder": (0.0, -1.4, 0.3), "right_shoulder": (0.0, 0.3, 0.5),
                 "left_elbow": (1.4, 0.0, 0.0), "right_elbow": (0.0, 1.3, 0.0),
                 "spine2": (0.0, 0.25, 0.0), "neck": (0.0, -0.3, 0.0)},
    "crouching": {"left_hip": (-1.4, 0.0, -0.2), "right_hip": (-1.4, 0.0, 0.2),
                  "left_knee": (1.8, 0.0, 0.0), "right_knee": (1.8, 0.0, 0.0),
                  "left_ankle": (-0.3, 0.0, 0.0), "right_ankle": (-0.3, 0.0, 0.0),
                  "spine1": (0.4, 0.0, 0.0), "left_shoulder": (0.0, -0.8, -0.6),
                  "right_shoulder": (0.0, 0.8, 0.6), "left_elbow": (0.0, -1.0, 0.0),
                  "right_elbow": (0.0, 1.0, 0.0)},
}
YAW = (-0.35, 0.9, -0.5, 0.45)  # radians about the vertical, per person, so depth shows


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body", type=Path, default=DEFAULT_BODY)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--size", default="1000x500", help="WIDTHxHEIGHT in pixels")
    parser.add_argument("--engine", choices=("workbench", "cycles"), default="workbench")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples")
    return parser.parse_args()


def load_body(path: Path):
    """A BodyMesh from a BodyMesh .npz (prefix "") or an SMPL-X model .npz."""
    from genhmr_core.body_mesh import BodyMesh, from_smplx_arrays

    with np.load(path, allow_pickle=False) as data:
        if "v_template" in data.files:
            return from_smplx_arrays(data["v_template"], data["f"], data["weights"],
                                     data["shapedirs"], data["J_regressor"], name=path.stem)
        return BodyMesh.from_arrays(data, prefix="")


def preview_result(body):
    """A one-frame result: one person per pose, side by side, facing the camera."""
    from genhmr_core import result_format, rotations, skeleton

    names = list(POSES)
    n = len(names)
    K = np.array([[1000.0, 0.0, 500.0], [0.0, 1000.0, 250.0], [0.0, 0.0, 1.0]])
    res = result_format.empty_result("preview", 30.0, (1000, 500), K, np.array([0]), n,
                                     num_betas=body.num_betas)
    res.body = body
    res.valid[:] = True
    upright = rotations.axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))
    for p, name in enumerate(names):
        res.rest_joints[p] = body.shaped(res.betas[p])[1]
        yaw = rotations.axis_angle_to_matrix(np.array([0.0, YAW[p], 0.0]))
        res.global_orient[p, 0] = rotations.matrix_to_axis_angle(yaw @ upright)
        for joint, aa in POSES[name].items():
            res.body_pose[p, 0, skeleton.JOINT_INDEX[joint] - 1] = aa
        res.transl[p, 0] = (1.0 * (p - (n - 1) / 2), 0.0, 4.0)
    return res, names


def setup_render(bpy, scene, size: tuple[int, int], engine: str, samples: int) -> None:
    """Workbench (studio light, material colours) or Cycles at few samples; light grey world."""
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 100  # a smaller file for the docs
    scene.view_settings.view_transform = "Standard"
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.color = BACKGROUND
    if engine == "workbench":
        scene.render.engine = "BLENDER_WORKBENCH"
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "MATERIAL"
        shading.show_cavity = True
        shading.cavity_type = "WORLD"
        return
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.world.use_nodes = True
    bg = scene.world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (*BACKGROUND, 1.0)
        bg.inputs["Strength"].default_value = 1.0
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (np.radians(50), 0.0, np.radians(-30))
    scene.collection.objects.link(sun)


def world_vertices(bpy, obj) -> np.ndarray:
    """Evaluated (posed, shaped) vertices of ``obj`` in world space."""
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    mw = np.array(ev.matrix_world)
    return co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]


def stand_on_ground(bpy, meshes: list) -> None:
    """Move each rig (its mesh follows) so its lowest vertex is at z = 0: one common floor."""
    for obj in meshes:
        obj.parent.location.z -= float(world_vertices(bpy, obj)[:, 2].min())
        bpy.context.view_layer.update()


def frame_camera(bpy, scene, meshes: list, size: tuple[int, int]) -> None:
    """An orthographic camera in front (people face -Y) framing every mesh with a margin."""
    pts = np.concatenate([world_vertices(bpy, obj) for obj in meshes])
    lo, hi = pts.min(0), pts.max(0)
    centre, extent = (lo + hi) / 2, hi - lo
    data = bpy.data.cameras.new("preview")
    data.type = "ORTHO"
    data.ortho_scale = 1.1 * max(extent[0], extent[2] * size[0] / size[1])
    data.clip_end = 50.0
    cam = bpy.data.objects.new("preview", data)
    cam.location = (centre[0], lo[1] - 10.0, centre[2])
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam


def main() -> int:
    args = _args()
    if not args.body.is_file():
        print(f"no body file at {args.body}", file=sys.stderr)
        return 1
    user = tempfile.mkdtemp(prefix="genhmr_blender_user_")
    for name in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS"):
        os.environ[f"BLENDER_USER_{name}"] = os.path.join(user, name.lower())
    sys.path[:0] = [str(ROOT)]
    import bpy

    from genhmr_blender.rig import build

    size = tuple(int(v) for v in args.size.lower().split("x"))
    body = load_body(args.body)
    result, names = preview_result(body)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    t0 = time.perf_counter()
    report = build.build_result(bpy.context, result, build.BuildOptions(
        load_background=False, set_scene_settings=False, set_frame_range=False))
    built = time.perf_counter() - t0
    scene.frame_set(1)
    meshes = [bpy.data.objects[n] for n in report.meshes]
    stand_on_ground(bpy, meshes)
    setup_render(bpy, scene, size, args.engine, args.samples)
    frame_camera(bpy, scene, meshes, size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    scene.render.filepath = str(args.out.resolve())
    t1 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    print(f"{body.name}: {body.num_vertices} vertices, {len(body.faces)} faces; poses "
          f"{', '.join(names)}; build {built:.2f} s ({report.mesh_seconds}), render "
          f"{time.perf_counter() - t1:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
