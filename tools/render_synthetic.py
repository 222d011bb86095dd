#!/usr/bin/env python3
"""Render the synthetic render set's job file with Blender (bpy side: no torch).

    python tools/render_synthetic.py --job JOB.npz --out IMAGES_DIR [--engine workbench]
        [--samples 16] [--backgrounds DIR] [--frames 0-99]

Written by ``python -m genhmr.synthetic.render_set`` (which runs this in its own process).
One body mesh object is built once; every frame only overwrites its vertex positions with
``foreach_set`` and moves the camera, so a frame costs the render alone.

Each segment (a few consecutive frames of one clip) gets its own look, derived from its seed:
skin tone, hair, shirt/trousers/shoes (colours and lengths) painted as vertex colours on the
body parts the job gives (derived from the skinning weights), a floor and a backdrop wall
painted with a random pattern (checker, blotchy noise, tiles/bricks, planks, plain, or a
picture from ``--backgrounds``), a background colour, and random lighting. All colour lives
in one colour attribute per object (floor and wall are fine grids with per-face colours), so
the fast Workbench engine (~1 s/frame at 640x480 on 2 shared cores, studio light with
shadows and cavity shading) shows it; ``--engine cycles`` renders the same scene path-traced
(~20-50 s/frame here: far too slow for the CPU-only machines this runs on).

Frames already in ``--out`` are skipped (resumable); a frame is written to a temporary name
and renamed, so a killed run never leaves half a PNG. ``looks.jsonl`` logs every segment's
look.

Axes: the job is in SMPL-X world axes (Y up) with OpenCV cameras (x right, y down, z
forward); Blender is Z up with cameras looking down their -Z.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# SMPL-X world (Y up) -> Blender world (Z up): (x, y, z) -> (x, -z, y).
AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
CV_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0])
SENSOR_WIDTH = 36.0

SKIN_TONES = ((255, 224, 196), (241, 194, 167), (224, 172, 138), (198, 134, 103),
              (160, 106, 75), (120, 80, 56), (88, 57, 39), (62, 42, 30))
HAIR_COLOURS = ((20, 17, 15), (45, 30, 22), (85, 60, 40), (140, 105, 65), (200, 170, 120),
                (150, 150, 150), (130, 60, 30))
TROUSER_COLOURS = ((45, 65, 100), (30, 40, 70), (25, 25, 28), (190, 170, 130), (110, 110, 110),
                   (80, 70, 55), (230, 230, 225))
SHOE_COLOURS = ((240, 240, 240), (20, 20, 20), (90, 60, 35), (60, 60, 70))
PATTERNS = ("checker", "noise", "bricks", "planks", "plain")
STUDIO_LIGHTS = ("Default", "basic.sl", "outdoor.sl", "paint.sl", "rim.sl", "studio.sl")
FLOOR = (60.0, 0.25)  # side (m), cell (m)
WALL = (32.0, 14.0, 0.1)  # width, height, cell


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for fNNNNN.png")
    parser.add_argument("--engine", choices=("workbench", "cycles"), default="workbench")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--backgrounds", type=Path, default=None,
                        help="folder of .png/.jpg pictures some backdrop walls show")
    parser.add_argument("--frames", default=None, help="only these frames, e.g. 0-9 or 3,5")
    return parser.parse_args()


# --------------------------------------------------------------------------------------------
# Appearance (pure numpy: what each segment looks like)


def srgb_to_linear(rgb) -> np.ndarray:
    c = np.asarray(rgb, np.float64)
    c = c / 255.0 if c.max() > 1.0 else c
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.08) -> np.ndarray:
    """A palette colour varied a little in brightness and tint (linear RGB)."""
    c = srgb_to_linear(rgb) * rng.uniform(1 - amount, 1 + amount)
    return np.clip(c * rng.uniform(1 - amount / 2, 1 + amount / 2, 3), 0.0, 1.0)


def _random_colour(rng: np.random.Generator, neutral: float = 0.3) -> np.ndarray:
    if rng.random() < neutral:
        return srgb_to_linear(np.full(3, rng.uniform(0.08, 0.95)))
    h, s, v = rng.random(), rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.9)
    return srgb_to_linear(np.array(colorsys.hsv_to_rgb(h, s, v)))


def sample_look(rng: np.random.Generator, num_pictures: int) -> dict:
    """Every random choice of one segment's look, as plain values (logged as JSON)."""
    look = {
        "skin": _jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))]).tolist(),
        "hair": None if rng.random() < 0.1 else _jitter(
            rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]).tolist(),
        "shirt": _random_colour(rng).tolist(),
        "sleeve": float(rng.choice([0.0, 0.12, 0.3, 1.0], p=[0.1, 0.35, 0.1, 0.45])),
        "waist": float(rng.uniform(-0.02, 0.12)),
        "trousers": (_jitter(rng, TROUSER_COLOURS[rng.integers(len(TROUSER_COLOURS))])
                     if rng.random() < 0.7 else _random_colour(rng)).tolist(),
        "trouser_length": float(rng.choice([0.3, 0.6, 2.0], p=[0.2, 0.1, 0.7])),
        "shoes": None if rng.random() < 0.05 else _jitter(
            rng, SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))]).tolist(),
        "floor": str(rng.choice(PATTERNS)),
        "floor_colours": [_random_colour(rng, 0.4).tolist() for _ in range(2)],
        "floor_cells": int(rng.integers(1, 9)),
        "wall": None if rng.random() < 0.25 else str(rng.choice(PATTERNS)),
        "wall_colours": [_random_colour(rng, 0.4).tolist() for _ in range(2)],
        "wall_cells": int(rng.integers(2, 9)),
        "wall_distance": float(rng.uniform(1.5, 7.0)),
        "wall_turn": float(rng.uniform(-0.5, 0.5)),
        "picture": None,
        "pattern_seed": int(rng.integers(2**31)),
        "background": _random_colour(rng, 0.5).tolist(),
        "light": str(rng.choice(STUDIO_LIGHTS)),
        "light_rotation": float(rng.uniform(-np.pi, np.pi)),
        "light_intensity": float(rng.uniform(0.7, 1.4)),
        "light_direction": [float(v) for v in rng.uniform([-0.8, -0.8, 0.4], [0.8, 0.8, 1.0])],
        "shadow": float(rng.uniform(0.2, 0.7)),
        "cavity": bool(rng.random() < 0.5),
        "specular": bool(rng.random() < 0.5),
        "exposure": float(rng.uniform(-0.5, 0.5)),
        "sun_elevation": float(rng.uniform(15, 80)),
        "sun_azimuth": float(rng.uniform(0, 360)),
        "sun_energy": float(rng.uniform(1.5, 5.0)),
    }
    if num_pictures and look["wall"] is not None and rng.random() < 0.35:
        look["wall"] = "picture"
        look["picture"] = int(rng.integers(num_pictures))
    return look


def vertex_colours(look: dict, part: np.ndarray, along: np.ndarray, names: list[str]
                   ) -> np.ndarray:
    """(V, 4) linear RGBA per vertex: skin, hair, clothes by body part and length."""
    p = {n: part == i for i, n in enumerate(names)}
    skin = np.asarray(look["skin"])
    colours = np.tile(skin, (len(part), 1))
    if look["hair"] is not None:
        colours[p["hair"]] = look["hair"]
    colours[p["eyes"]] = (0.04, 0.03, 0.025)
    shirt = np.asarray(look["shirt"])
    trousers = np.asarray(look["trousers"])
    torso = p["torso"]
    colours[torso & (along > look["waist"])] = shirt
    colours[torso & (along <= look["waist"])] = trousers
    colours[p["arm"] & (along < look["sleeve"] * 0.6)] = shirt
    colours[p["leg"] & (along < look["trouser_length"])] = trousers
    colours[p["foot"]] = skin if look["shoes"] is None else look["shoes"]
    return np.concatenate([colours, np.ones((len(part), 1))], 1)


def _smooth_field(rng: np.random.Generator, ny: int, nx: int, step: int) -> np.ndarray:
    """(ny, nx) smooth random values in [0, 1]: a coarse random grid, bilinearly upsampled."""
    coarse = rng.random((ny // step + 2, nx // step + 2))
    ys, xs = np.arange(ny) / step, np.arange(nx) / step
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = coarse[y0][:, x0]
    b = coarse[y0][:, x0 + 1]
    c = coarse[y0 + 1][:, x0]
    d = coarse[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def pattern(style: str, ny: int, nx: int, cells: int, colours, rng: np.random.Generator,
            picture: np.ndarray | None = None) -> np.ndarray:
    """(ny, nx, 3) per-face colours of a floor or wall grid; ``cells`` sets the pattern size
    in grid faces. Every pattern gets a little per-face grain, as real surfaces have."""
    a, b = np.asarray(colours[0]), np.asarray(colours[1])
    j, i = np.mgrid[0:ny, 0:nx]
    if style == "picture" and picture is not None:
        # A random window of the picture with the grid's aspect (no stretching).
        h = min(picture.shape[0], max(1, round(picture.shape[1] * ny / nx)))
        top = int(rng.integers(0, picture.shape[0] - h + 1))
        picture = picture[top:top + h]
        rows = np.clip((np.arange(ny)[::-1] * picture.shape[0] / ny).astype(int), 0,
                       picture.shape[0] - 1)
        cols = np.clip((np.arange(nx) * picture.shape[1] / nx).astype(int), 0,
                       picture.shape[1] - 1)
        return picture[rows][:, cols]
    if style == "checker":
        t = ((i // cells + j // cells) % 2)[..., None].astype(float)
        out = a * (1 - t) + b * t
    elif style == "noise":
        t = _smooth_field(rng, ny, nx, 4 * cells)[..., None]
        out = a * (1 - t) + b * t
    elif style == "bricks":
        h, w = cells, 2 * cells
        row = j // h
        shifted = i + (row % 2) * (w // 2)
        brick = row * (nx + w) + shifted // w
        shade = rng.uniform(0.75, 1.15, int(brick.max()) + 1)[brick][..., None]
        mortar = ((j % h == 0) | (shifted % w == 0))[..., None]
        out = np.where(mortar, b, a * shade)
    elif style == "planks":
        plank = i // cells
        shade = rng.uniform(0.7, 1.2, int(plank.max()) + 1)[plank][..., None]
        grain = 0.85 + 0.3 * _smooth_field(rng, ny, nx, 2)[..., None]
        out = a * shade * grain
    else:  # plain
        out = a * (0.9 + 0.2 * _smooth_field(rng, ny, nx, 16)[..., None])
    grain = rng.uniform(0.93, 1.07, (ny, nx, 1))
    return np.clip(out * grain, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Scene (bpy)


def _matrix(m: np.ndarray):
    from mathutils import Matrix

    return Matrix([list(map(float, row)) for row in m])


def _grid(bpy, name: str, nx: int, ny: int, width: float, height: float):
    """A flat nx x ny grid of faces in the XY plane, centred at its origin, with a per-corner
    colour attribute (so each face can have its own flat colour)."""
    xs = np.linspace(-width / 2, width / 2, nx + 1)
    ys = np.linspace(-height / 2, height / 2, ny + 1)
    vx, vy = np.meshgrid(xs, ys)
    verts = np.stack([vx.ravel(), vy.ravel(), np.zeros(vx.size)], -1)
    idx = np.arange((nx + 1) * (ny + 1)).reshape(ny + 1, nx + 1)
    quads = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    mesh.loops.add(quads.size)
    mesh.loops.foreach_set("vertex_index", quads.astype(np.int32).ravel())
    mesh.polygons.add(len(quads))
    mesh.polygons.foreach_set("loop_start", np.arange(0, quads.size, 4, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(len(quads), 4, np.int32))
    mesh.update()
    mesh.validate()
    mesh.color_attributes.new("Col", "FLOAT_COLOR", "CORNER")
    obj = bpy.data.objects.new(name, mesh)
    obj["grid"] = (nx, ny)
    return obj


def _paint_grid(obj, face_colours: np.ndarray) -> None:
    """Per-face (ny, nx, 3) colours onto the grid's corner colour attribute."""
    rgba = np.concatenate([face_colours.reshape(-1, 3), np.ones((face_colours[..., 0].size, 1))],
                          1)
    corners = np.repeat(rgba, 4, axis=0).astype(np.float32)
    obj.data.color_attributes["Col"].data.foreach_set("color", corners.ravel())
    obj.data.update()


def _load_picture(bpy, path: Path, longest: int = 400) -> np.ndarray:
    """A picture as (H, W, 3) linear floats, subsampled to about ``longest`` pixels."""
    image = bpy.data.images.load(str(path))
    w, h = image.size
    px = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(px)
    bpy.data.images.remove(image)
    px = px.reshape(h, w, 4)[::-1, :, :3]  # Blender stores rows bottom-up
    step = max(1, max(w, h) // longest)
    return srgb_to_linear(np.clip(px[::step, ::step], 0.0, 1.0))  # bytes are sRGB


class Scene:
    """The render scene: one body, floor, wall, lights and camera, re-dressed per segment."""

    def __init__(self, bpy, job: dict, engine: str, samples: int, pictures: list[Path]) -> None:
        self.bpy = bpy
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = self.scene = bpy.context.scene
        self.engine = engine
        self.part = job["vertex_part"]
        self.along = job["vertex_along"]
        self.part_names = [str(n) for n in job["part_names"]]
        self.pictures = [_load_picture(bpy, p) for p in pictures]

        mesh = bpy.data.meshes.new("body")
        faces = job["faces"]
        mesh.from_pydata((job["vertices"][0] @ AXES.T).tolist(), [], faces.tolist())
        mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
        self.colour = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
        mesh.update()
        self.body = bpy.data.objects.new("body", mesh)
        side, cell = FLOOR
        n = round(side / cell)
        self.floor = _grid(bpy, "floor", n, n, side, side)
        width, height, cell = WALL
        self.wall = _grid(bpy, "wall", round(width / cell), round(height / cell), width, height)
        material = self._material()
        for obj in (self.body, self.floor, self.wall):
            scene.collection.objects.link(obj)
            obj.data.materials.append(material)
        # Workbench's shadow volumes of the 100k-face floor and wall cost ~6 s a frame; only
        # the body needs to cast a shadow (onto the floor).
        self.floor.display.show_shadows = False
        self.wall.display.show_shadows = False

        self.sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
        self.sun.data.angle = math.radians(2.0)
        scene.collection.objects.link(self.sun)
        self.camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        self.camera.data.sensor_fit = "HORIZONTAL"
        self.camera.data.sensor_width = SENSOR_WIDTH
        self.camera.data.clip_start, self.camera.data.clip_end = 0.05, 300.0
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera
        scene.world = bpy.data.worlds.new("world")
        self._render_settings(engine, samples)

    def _material(self):
        """Colour attribute -> diffuse (what Cycles uses; Workbench reads the attribute)."""
        mat = self.bpy.data.materials.new("painted")
        mat.use_nodes = True
        tree = mat.node_tree
        bsdf = tree.nodes.get("Principled BSDF")
        bsdf.inputs["Roughness"].default_value = 0.6
        attr = tree.nodes.new("ShaderNodeAttribute")
        attr.attribute_name = "Col"
        tree.links.new(attr.outputs["Color"], bsdf.inputs["Base Color"])
        return mat

    def _render_settings(self, engine: str, samples: int) -> None:
        scene = self.scene
        render = scene.render
        render.resolution_percentage = 100
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "RGB"
        render.image_settings.compression = 15  # fast to write; the cache is not shipped
        render.film_transparent = False
        scene.view_settings.view_transform = "Standard"
        if engine == "workbench":
            render.engine = "BLENDER_WORKBENCH"
            scene.display.render_aa = "5"
            shading = scene.display.shading
            shading.light = "STUDIO"
            shading.color_type = "VERTEX"
            shading.show_shadows = True
            shading.cavity_type = "BOTH"
            return
        render.engine = "CYCLES"
        cycles = scene.cycles
        cycles.device = "CPU"
        cycles.samples = samples
        cycles.max_bounces = 3
        cycles.use_denoising = False
        scene.world.use_nodes = True
        render.use_persistent_data = True

    # -- per segment -------------------------------------------------------------------------
    def dress(self, look: dict, first_verts: np.ndarray, camera_centre: np.ndarray,
              floor_z: float) -> None:
        """Apply a segment's look; the wall stands behind the person as the camera sees them."""
        rng = np.random.default_rng(look["pattern_seed"])
        colours = vertex_colours(look, self.part, self.along, self.part_names)
        self.colour.data.foreach_set("color", colours.astype(np.float32).ravel())
        self.body.data.update()
        centre = first_verts.mean(0)
        self.floor.location = (float(centre[0]), float(centre[1]), floor_z)
        nx, ny = self.floor["grid"]
        _paint_grid(self.floor, pattern(look["floor"], ny, nx, look["floor_cells"],
                                        look["floor_colours"], rng))
        self.wall.hide_render = look["wall"] is None
        if look["wall"] is not None:
            nx, ny = self.wall["grid"]
            picture = self.pictures[look["picture"]] if look["picture"] is not None else None
            _paint_grid(self.wall, pattern(look["wall"], ny, nx, look["wall_cells"],
                                           look["wall_colours"], rng, picture))
            self._place_wall(look, centre, camera_centre, floor_z)
        self._light(look)

    def _light(self, look: dict) -> None:
        scene = self.scene
        scene.view_settings.exposure = look["exposure"]
        bg = tuple(look["background"])
        scene.world.color = bg
        if self.engine == "workbench":
            shading = scene.display.shading
            shading.studio_light = look["light"]
            shading.studiolight_rotate_z = look["light_rotation"]
            shading.studiolight_intensity = look["light_intensity"]
            shading.shadow_intensity = look["shadow"]
            shading.show_cavity = look["cavity"]
            shading.show_specular_highlight = look["specular"]
            direction = np.asarray(look["light_direction"])
            scene.display.light_direction = tuple(direction / np.linalg.norm(direction))
            return
        tree = scene.world.node_tree
        tree.nodes["Background"].inputs["Color"].default_value = (*bg, 1.0)
        tree.nodes["Background"].inputs["Strength"].default_value = look["light_intensity"]
        el, az = math.radians(look["sun_elevation"]), math.radians(look["sun_azimuth"])
        # A sun shines along its -Z: tilt it down from the zenith by (90 - elevation).
        self.sun.rotation_euler = (math.pi / 2 - el, 0.0, az)
        self.sun.data.energy = look["sun_energy"]

    def _place_wall(self, look: dict, person: np.ndarray, cam: np.ndarray, floor_z: float
                    ) -> None:
        d = person[:2] - cam[:2]
        d = d / max(float(np.linalg.norm(d)), 1e-6)
        c, s = math.cos(look["wall_turn"]), math.sin(look["wall_turn"])
        d = np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])
        x_axis = np.array([-d[1], d[0], 0.0])
        up = np.array([0.0, 0.0, 1.0])
        height = WALL[1]
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = x_axis, up, np.cross(x_axis, up)
        m[:3, 3] = (np.array([person[0], person[1], floor_z]) + np.r_[d, 0.0]
                    * look["wall_distance"] + up * height / 2)
        self.wall.matrix_world = _matrix(m)

    # -- per frame ---------------------------------------------------------------------------
    def pose(self, verts_blender: np.ndarray) -> None:
        mesh = self.body.data
        mesh.vertices.foreach_set("co", verts_blender.astype(np.float32).ravel())
        mesh.update()

    def set_camera(self, R: np.ndarray, t: np.ndarray, K: np.ndarray, size) -> None:
        width, height = int(size[0]), int(size[1])
        if abs(K[0, 2] - width / 2) > 0.5 or abs(K[1, 2] - height / 2) > 0.5:
            raise ValueError("the renderer expects the principal point at the image centre")
        if abs(K[0, 0] - K[1, 1]) > 1e-6 * K[0, 0]:
            raise ValueError("the renderer expects square pixels")
        self.scene.render.resolution_x, self.scene.render.resolution_y = width, height
        self.camera.data.lens = float(K[0, 0]) * SENSOR_WIDTH / width
        m = np.eye(4)
        m[:3, :3] = AXES @ R.T @ CV_TO_BLENDER_CAMERA  # camera axes in Blender world
        m[:3, 3] = -AXES @ R.T @ t
        self.camera.matrix_world = _matrix(m)

    def render(self, path: Path) -> None:
        tmp = path.with_name(path.stem + ".tmp.png")
        self.scene.render.filepath = str(tmp)
        self.bpy.ops.render.render(write_still=True)
        os.replace(tmp, path)


def _frame_list(spec: str | None, n: int) -> list[int]:
    if not spec:
        return list(range(n))
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        elif part.strip():
            out.append(int(part))
    return [i for i in out if 0 <= i < n]


def main() -> int:
    args = _args()
    user = tempfile.mkdtemp(prefix="genhmr_blender_user_")
    for name in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS"):
        os.environ[f"BLENDER_USER_{name}"] = os.path.join(user, name.lower())
    with np.load(args.job, allow_pickle=False) as z:
        job = {k: z[k] for k in z.files}
    n = len(job["segment"])
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [i for i in _frame_list(args.frames, n) if not (args.out / f"f{i:05d}.png").is_file()]
    if not todo:
        print("render_synthetic: nothing to render", file=sys.stderr)
        return 0
    pictures = []
    if args.backgrounds is not None and args.backgrounds.is_dir():
        pictures = sorted(p for p in args.backgrounds.iterdir()
                          if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    t0 = time.perf_counter()
    import bpy

    scene = Scene(bpy, job, args.engine, args.samples, pictures)
    setup = time.perf_counter() - t0
    segment = job["segment"]
    times: list[float] = []
    dress_times: list[float] = []
    current = None
    with (args.out / "looks.jsonl").open("a") as looks:
        for i in todo:
            seg = int(segment[i])
            if seg != current:
                t = time.perf_counter()
                current = seg
                first = int(np.flatnonzero(segment == seg)[0])
                look = sample_look(np.random.default_rng(int(job["segment_seed"][seg])),
                                   len(pictures))
                centre = -job["R"][first].T @ job["t"][first]
                scene.dress(look, job["vertices"][first] @ AXES.T, AXES @ centre,
                            float(job["floor_y"][first]))
                looks.write(json.dumps({"segment": seg, **look}) + "\n")
                dress_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            scene.pose(job["vertices"][i] @ AXES.T)
            scene.set_camera(job["R"][i], job["t"][i], job["K"][i], job["image_size"][i])
            scene.render(args.out / f"f{i:05d}.png")
            times.append(time.perf_counter() - t)
            if len(times) % 20 == 0 or len(times) == len(todo):
                print(f"render_synthetic: {len(times)}/{len(todo)} frames, "
                      f"{np.mean(times):.2f} s/frame", file=sys.stderr, flush=True)
    summary = {"frames": len(times), "setup_s": round(setup, 2),
               "s_per_frame": round(float(np.mean(times)), 3),
               "dress_s_per_segment": round(float(np.mean(dress_times)), 3),
               "engine": args.engine, "samples": args.samples if args.engine == "cycles" else 0}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
