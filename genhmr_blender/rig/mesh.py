"""The skinned body mesh of one person, bound to that person's armature.

The mesh comes from the result's :class:`~genhmr_core.body_mesh.BodyMesh` (template, faces, UVs,
sparse skinning weights, linear shape model) and the person's shape coefficients ``betas``:

* vertices are mapped into armature space with the same mapping the bones use
  (``scene_space.rest_joints_in_armature``), so the rest mesh of shape ``betas`` sits exactly on
  the bones' rest heads (which the armature builds from ``body.shaped(betas)[1]``);
* one vertex group per joint, named as its bone, holds the skinning weights exactly, written
  through a ``bmesh`` deform layer (one item assignment per influence: 0.03 s for 13,718
  vertices with 4 influences each, against 0.10 s for one ``VertexGroup.add`` call per influence
  and 0.17 s for one call per group of vertices sharing a weight rounded to 1e-4, which is
  inexact as well);
* an Armature modifier deforms it, with *Preserve Volume* (dual-quaternion skinning) on by
  default: plain linear blend skinning collapses the mesh where a limb twists (the "candy
  wrapper" at shoulders, forearms and hips), dual quaternions keep its thickness;
* shape keys carry the shape model: "Basis" is the zero-shape template and there is one key per
  shape coefficient (``body.shape_names``), valued at the person's ``betas``, so the evaluated
  rest mesh equals ``body.shaped(betas)``, scaled by the person's uniform size
  (``JobResult.body_scale``: Basis and keys alike, as the bones are). The mesh's own
  vertices hold the Basis, as Blender expects of a mesh with shape keys. Editing a shape key
  reshapes the mesh but does not move the bones: the skeleton stays the one the motion was
  solved for.

The mesh object is parented to the armature with an identity parent inverse, so its local space
*is* armature space and it stays on the bones wherever the armature is moved.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import bmesh
import bpy
import numpy as np

from .._core import body_mesh, scene_space, skeleton

# (bpy.data collection, data-block) -> None: lets the caller undo a half-built mesh.
Record = Callable[[bpy.types.bpy_prop_collection, bpy.types.ID], None]

SKIN_COLOUR = (0.80, 0.52, 0.40, 1.0)  # linear RGB; a neutral light skin tone
SHAPE_SLIDER_LIMIT = 10.0  # Blender's hard range of ShapeKey.slider_min/max
SIZE_PROPERTY = "genhmr_body_scale"  # the uniform size the mesh's coordinates were written at


def to_armature_space(points: np.ndarray) -> np.ndarray:
    """SMPL-X model-frame points (..., 3) -> armature space, exactly as the bone heads are."""
    return scene_space.rest_joints_in_armature(np.asarray(points, dtype=np.float64))


def skin_material(name: str = "GenHMR Skin") -> bpy.types.Material:
    """A plain skin-coloured material (Principled base colour; the same colour for Workbench)."""
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = SKIN_COLOUR  # Workbench "Material" colour and viewport display
    mat.roughness = 0.6
    if mat.node_tree is None:  # before 5.0; from 5.0 materials always have nodes
        mat.use_nodes = True
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = SKIN_COLOUR
        bsdf.inputs["Roughness"].default_value = 0.6
    return mat


def _add_vertices(mesh: bpy.types.Mesh, verts: np.ndarray) -> None:
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", np.asarray(verts, dtype=np.float32).ravel())


def _add_faces(mesh: bpy.types.Mesh, faces: np.ndarray) -> None:
    """Triangles in bulk: one ``foreach_set`` per attribute, no per-face Python; smooth shaded."""
    faces = np.asarray(faces, dtype=np.int32).reshape(-1, 3)
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.update()
    if hasattr(mesh, "shade_smooth"):  # 4.1+
        mesh.shade_smooth()
    else:  # pragma: no cover - 4.0 and older keep a per-face flag
        mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))


def _fill_uvs(mesh: bpy.types.Mesh, uvs: np.ndarray) -> None:
    """Per-corner UVs, in the same corner order as the loops written by :func:`_add_faces`."""
    if len(uvs) == 0 or len(mesh.polygons) == 0:
        return
    layer = mesh.uv_layers.new(name="UVMap")
    layer.data.foreach_set("uv", np.asarray(uvs, dtype=np.float32).ravel())


def _fill_vertex_groups(obj: bpy.types.Object, indices: np.ndarray,
                        weights: np.ndarray) -> None:
    """One vertex group per joint (named as its bone) holding the sparse weights (V, S) exactly.

    Group ``j`` is created in ``JOINT_NAMES`` order, so its index is the joint index and the
    deform layer can be written by index. Zero-weight slots are skipped. Called before the faces
    exist: the ``bmesh`` round trip of a vertices-only mesh is nearly free.
    """
    for name in skeleton.JOINT_NAMES:
        obj.vertex_groups.new(name=name)
    mesh = obj.data
    bm = bmesh.new()
    try:
        bm.from_mesh(mesh)
        layer = bm.verts.layers.deform.verify()
        for vert, joints, values in zip(bm.verts, np.asarray(indices).tolist(),
                                        np.asarray(weights, dtype=np.float64).tolist(),
                                        strict=True):
            deform = vert[layer]
            for j, w in zip(joints, values, strict=True):
                if w > 0.0:
                    deform[j] = w
        bm.to_mesh(mesh)
    finally:
        bm.free()


def _slider_range(limits: np.ndarray, value: float) -> tuple[float, float]:
    """The body's slider range widened to include ``value``, within Blender's hard range."""
    lo = max(-SHAPE_SLIDER_LIMIT, min(float(limits[0]), value))
    hi = min(SHAPE_SLIDER_LIMIT, max(float(limits[1]), value))
    return lo, max(hi, lo + 1e-3)


def _shape_coordinates(body: body_mesh.BodyMesh, scale: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) the zero-shape template and (B, V, 3) the shape directions in armature space, at
    uniform size ``scale`` (the mapping is linear, so the size scales both)."""
    basis = to_armature_space(scale * np.asarray(body.vertices, dtype=np.float64))
    dirs = to_armature_space(scale * np.moveaxis(body.shape_dirs, 2, 0))  # (B, V, 3)
    return basis, dirs


def _fill_shape_keys(obj: bpy.types.Object, body: body_mesh.BodyMesh,
                     betas: np.ndarray, scale: float) -> list[str]:
    """"Basis" = zero-shape template, then one key per shape direction valued at ``betas``,
    all at uniform size ``scale``.

    Returns warnings (a coefficient beyond Blender's slider range cannot be shown exactly).
    """
    warnings: list[str] = []
    if body.num_betas == 0:
        return warnings
    basis, dirs = _shape_coordinates(body, scale)
    obj.shape_key_add(name="Basis", from_mix=False)
    for i, name in enumerate(body.shape_names):
        key = obj.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (basis + dirs[i]).astype(np.float32).ravel())
    return set_shape(obj, body, betas)


def set_size(obj: bpy.types.Object, body: body_mesh.BodyMesh, scale: float) -> bool:
    """The body's mesh and shape keys written again at uniform size ``scale`` (after the
    backend sized the person again, e.g. a merge); nothing is touched when the mesh is at that
    size already (an artist's sculpted shape keys stay). Returns whether it changed."""
    scale = float(scale)
    if abs(float(obj.get(SIZE_PROPERTY, 1.0)) - scale) < 1e-7:
        return False
    basis, dirs = _shape_coordinates(body, scale)
    obj.data.vertices.foreach_set("co", basis.astype(np.float32).ravel())
    keys = obj.data.shape_keys.key_blocks if obj.data.shape_keys else {}
    if "Basis" in keys:
        keys["Basis"].data.foreach_set("co", basis.astype(np.float32).ravel())
    for i, name in enumerate(body.shape_names):
        if name in keys:
            keys[name].data.foreach_set("co", (basis + dirs[i]).astype(np.float32).ravel())
    obj[SIZE_PROPERTY] = scale
    obj.data.update()
    return True


def set_shape(obj: bpy.types.Object, body: body_mesh.BodyMesh, betas: np.ndarray) -> list[str]:
    """Value the body's shape keys at ``betas`` (on a new body, or after the backend solved
    the person's shape again); returns warnings (a coefficient beyond Blender's slider range
    cannot be shown exactly)."""
    warnings: list[str] = []
    keys = obj.data.shape_keys.key_blocks if obj.data.shape_keys else {}
    for i, name in enumerate(body.shape_names):
        key = keys.get(name)
        if key is None:
            continue
        value = float(betas[i]) if i < len(betas) else 0.0
        lo, hi = _slider_range(body.shape_limits[i], value)
        # Each bound is clamped against the other: open the range fully, then narrow it.
        key.slider_min, key.slider_max = -SHAPE_SLIDER_LIMIT, SHAPE_SLIDER_LIMIT
        key.slider_min, key.slider_max = lo, hi
        key.value = value
        if abs(key.value - value) > 1e-6:
            warnings.append(f"{obj.name}: shape {name} = {value:.3g} is beyond Blender's "
                            f"slider range; shown as {key.value:.3g}")
    return warnings


def _add_armature_modifier(obj: bpy.types.Object, rig: bpy.types.Object,
                           preserve_volume: bool) -> bpy.types.Modifier:
    """Deform by the rig's vertex groups; dual quaternions when ``preserve_volume``."""
    mod = obj.modifiers.new(name="Armature", type="ARMATURE")
    mod.object = rig
    mod.use_vertex_groups = True
    mod.use_bone_envelopes = False
    mod.use_deform_preserve_volume = bool(preserve_volume)
    return mod


def build_body_mesh(name: str, body: body_mesh.BodyMesh, betas: np.ndarray,
                    rig: bpy.types.Object, collection: bpy.types.Collection,
                    material: bpy.types.Material | None, record: Record,
                    preserve_volume: bool = True, scale: float = 1.0
                    ) -> tuple[bpy.types.Object, dict[str, float], list[str]]:
    """Create the skinned mesh of one person at uniform size ``scale``
    (``JobResult.body_scale``); returns (object, timings by stage, warnings).

    Every data-block is passed to ``record`` as soon as it exists, so a failure later on (here
    or in the caller) can remove it again.
    """
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    mesh = bpy.data.meshes.new(name)
    record(bpy.data.meshes, mesh)
    _add_vertices(mesh, to_armature_space(scale * np.asarray(body.vertices, dtype=np.float64)))
    obj = bpy.data.objects.new(name, mesh)
    obj[SIZE_PROPERTY] = float(scale)
    record(bpy.data.objects, obj)
    collection.objects.link(obj)
    t1 = time.perf_counter()
    _fill_vertex_groups(obj, body.skin_indices, body.skin_weights)
    t2 = time.perf_counter()
    _add_faces(mesh, body.faces)
    _fill_uvs(mesh, body.uvs)
    if material is not None:
        mesh.materials.append(material)
    t3 = time.perf_counter()
    warnings = _fill_shape_keys(obj, body, betas, scale)
    t4 = time.perf_counter()
    _add_armature_modifier(obj, rig, preserve_volume)
    obj.parent = rig
    obj.parent_type = "OBJECT"
    obj.matrix_parent_inverse.identity()  # local space == armature space: no offset, ever
    timings.update(geometry=(t1 - t0) + (t3 - t2), vertex_groups=t2 - t1, shape_keys=t4 - t3,
                   total=time.perf_counter() - t0)
    return obj, timings, warnings
