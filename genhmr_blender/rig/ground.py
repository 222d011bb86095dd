"""The floor as an object: a plane at z = 0 under the people (``genhmr_core.ground``), and a
block under each raised level people stand on (``genhmr_core.supports``).

The scene is placed so the floor the backend found (the lowest level people stand on) is z = 0;
this plane makes it visible, sized to cover where the people went (at least 10 m across), so an
artist sees from the side and from above whether feet rest on it. Someone standing on a box
stands on a block as tall as the box's top, where their feet rested, instead of on air.
"""

from __future__ import annotations

import bpy
import numpy as np

from .._core import supports

MIN_SIZE_M = 10.0
MARGIN = 1.5  # the plane spans this many times the people's extent


def build_ground(name: str, roots_xy: np.ndarray, collection: bpy.types.Collection
                 ) -> bpy.types.Object:
    """A square plane at z = 0 centred under ``roots_xy`` (N, 2): world x, y of the people's
    roots over the clip (any number; none gives a plane at the origin)."""
    points = np.asarray(roots_xy, dtype=np.float64).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points):
        low, high = points.min(axis=0), points.max(axis=0)
        centre, extent = (low + high) / 2.0, float((high - low).max())
    else:
        centre, extent = np.zeros(2), 0.0
    half = max(MIN_SIZE_M, MARGIN * extent) / 2.0
    corners = [(-half, -half, 0.0), (half, -half, 0.0), (half, half, 0.0), (-half, half, 0.0)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(corners, [], [(0, 1, 2, 3)])
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    obj.location = (float(centre[0]), float(centre[1]), 0.0)
    collection.objects.link(obj)
    return obj


def build_support(name: str, support: supports.Support, collection: bpy.types.Collection
                  ) -> bpy.types.Object:
    """A box from the floor up to ``support.height`` over its footprint (world x, y)."""
    (x0, y0), (x1, y1), top = support.low, support.high, support.height
    corners = [(x, y, z) for z in (0.0, top) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(corners, [], faces)
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj
