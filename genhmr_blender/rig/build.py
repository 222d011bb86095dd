"""Build everything for one result into a new collection, all or nothing.

Per person: a keyframed armature and, when the result carries a body (format v2), its skinned
mesh (:mod:`.mesh`). Every data-block created is recorded; if anything fails half-way, they are
all removed again and the scene settings restored, so a failed import leaves the file exactly as
it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import bpy
import numpy as np

from .._core import (
    confidence,
    contacts,
    gaps,
    job_revisions,
    result_format,
    scene_space,
    supports,
)
from .._core import ground as ground_core
from . import armature, camera, ground, keyframes, mesh, reimport
from . import unsure as unsure_marks

MESH_JOINT_TOLERANCE = 0.005  # metres between the rig's rest joints and the body's own
SKIN_TAG = "genhmr_skin"  # on the one skin material imports share


@dataclasses.dataclass
class BuildOptions:
    frame_offset: int = 1  # scene frame that shows video frame 0
    set_scene_settings: bool = True  # resolution, fps, scene camera
    set_frame_range: bool = True  # scene range = the analysed frames
    load_background: bool = True  # the source video as camera background
    collection_name: str = ""  # default "GenHMR <video name>"
    with_mesh: bool = True  # a skinned body mesh per person, when the result has a body
    preserve_volume: bool = True  # dual-quaternion skinning (no candy-wrapper at twists)
    hide_when_unseen: bool = True  # key visibility: each person shows only while tracked
    with_ground: bool = True  # a plane object for the floor (z = 0)
    update_existing: bool = True  # an earlier import of this video is updated, not duplicated
    min_confidence: float = 0.0  # > 0: key each bone only where its joint is at least this sure
    unsure_threshold: float = confidence.DEFAULT_THRESHOLD  # timeline markers below this
    result_path: str = ""  # the imported file, kept on the collection for re-runs


@dataclasses.dataclass
class BuildReport:
    collection: str
    armatures: list[str]
    camera: str
    camera_height: float
    background: str  # movie clip name, or "" when the video was not found
    keyed_frames: dict[str, int]
    seconds: dict[str, float]
    warnings: list[str]
    meshes: list[str] = dataclasses.field(default_factory=list)  # body mesh objects, if any
    mesh_seconds: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    ground: str = ""  # the floor plane object, "" when not made
    unsure_markers: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # per rig
    updated: bool = False  # an earlier import of the same video was updated in place


class _Created:
    """Data-blocks made so far, removed in reverse order on failure."""

    def __init__(self) -> None:
        self.items: list[tuple[bpy.types.bpy_prop_collection, bpy.types.ID]] = []

    def add(self, collection: bpy.types.bpy_prop_collection, block: bpy.types.ID) -> None:
        self.items.append((collection, block))

    def remove_all(self) -> None:
        for collection, block in reversed(self.items):
            with contextlib.suppress(ReferenceError, RuntimeError):  # gone with its owner
                collection.remove(block)
        self.items.clear()


def _ensure_object_mode(context: bpy.types.Context) -> None:
    if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode="OBJECT")


def _build_person_mesh(result: result_format.JobResult, p: int, rig: bpy.types.Object,
                       coll: bpy.types.Collection, skin: bpy.types.Material,
                       options: BuildOptions, created: _Created,
                       warnings: list[str]) -> tuple[bpy.types.Object, dict[str, float]]:
    """Person ``p``'s skinned mesh on ``rig``; warns when the result's skeleton and its body's
    shaped joints disagree (the mesh would then not sit on the bones)."""
    body = result.body
    betas = np.asarray(result.betas[p], dtype=np.float64)
    size = float(result.body_scales()[p])
    off = float(np.abs(size * body.shaped(betas)[1] - np.asarray(result.rest_joints[p])).max())
    if off > MESH_JOINT_TOLERANCE:
        warnings.append(f"{rig.name}: body joints differ from the rig's rest joints by "
                        f"{1000 * off:.0f} mm; the mesh may not sit on the bones")
    obj, seconds, mesh_warnings = mesh.build_body_mesh(
        f"{rig.name}_body", body, betas, rig, coll, skin, created.add,
        preserve_volume=options.preserve_volume, scale=size)
    warnings.extend(mesh_warnings)
    return obj, seconds


def build_result(context: bpy.types.Context, result: result_format.JobResult,
                 options: BuildOptions | None = None) -> BuildReport:
    """Create the collection, camera, and per person a keyframed armature and its skinned mesh
    (when the result has a body and ``options.with_mesh``); or, when an earlier import of the
    same video is in the scene (and ``options.update_existing``), update it in place
    (:mod:`.reimport`). Then mark where each person's solve is unsure."""
    options = options or BuildOptions()
    scene = context.scene
    video_name = os.path.basename(result.source_video) or "video"
    name = options.collection_name or f"GenHMR {video_name}"
    earlier = reimport.existing_collection(name) if options.update_existing else None
    if earlier is None:
        report, unsure = _build(context, result, options, name)
    else:
        report, unsure = _build(context, result, options, f"{name} (update)")
        renamed, kept = reimport.merge(scene, earlier, bpy.data.collections[report.collection])
        tag_collection(earlier, np.asarray(result.frame_indices) + int(options.frame_offset),
                       options)
        report = _renamed(report, renamed, earlier.name)
        unsure = {renamed[n]: v for n, v in unsure.items()}
        report.updated = True
        report.warnings += [f"{n}: not in the new result, left as it was" for n in kept]
    report.unsure_markers = {n: unsure_marks.mark_unsure(scene, n, at, values,
                                                         options.unsure_threshold)
                             for n, (at, values) in unsure.items()}
    scene.frame_set(scene.frame_current)  # pose and colour the rigs now
    return report


def _renamed(report: BuildReport, names: dict[str, str], collection: str) -> BuildReport:
    """The report of a build merged into an earlier one, with the objects' final names."""
    return dataclasses.replace(
        report, collection=collection, armatures=[names[n] for n in report.armatures],
        camera=names.get(report.camera, report.camera),
        keyed_frames={names[n]: k for n, k in report.keyed_frames.items()},
        meshes=[names[n] for n in report.meshes],
        mesh_seconds={names[n]: v for n, v in report.mesh_seconds.items()},
        ground=names.get(report.ground, report.ground))


def _build(context: bpy.types.Context, result: result_format.JobResult, options: BuildOptions,
           collection_name: str) -> tuple[BuildReport, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A fresh import into a new collection (everything made is removed on failure); also
    each rig's (scene frames, confidence) for the unsure markers."""
    scene = context.scene
    view_layer = context.view_layer
    created = _Created()
    saved = camera.snapshot_scene_settings(scene)
    actions_before = set(bpy.data.actions)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    _ensure_object_mode(context)
    try:
        t0 = time.perf_counter()
        coll = bpy.data.collections.new(collection_name)
        coll[reimport.IMPORT_TAG] = True
        created.add(bpy.data.collections, coll)
        scene.collection.children.link(coll)

        floor = _floor(result)
        height, turn = scene_placement(result, floor)
        image_size = (int(result.image_size[0]), int(result.image_size[1]))
        cam = camera.build_camera(f"{coll.name} camera", result.camera_K, image_size, height, coll)
        reimport.tag(cam, "camera")
        created.add(bpy.data.cameras, cam.data)
        created.add(bpy.data.objects, cam)
        frames = np.asarray(result.frame_indices, dtype=np.int64) + int(options.frame_offset)
        tag_collection(coll, frames, options)
        if turn is not None:
            quats = scene_space.camera_quaternions(turn)
            if result.camera_rotation is None:  # fixed, but tilted against the floor
                camera.set_rotation(cam, quats[0])
            else:
                camera.key_rotation(cam, frames, quats, f"{cam.name}_motion")
        if result.camera_focal_px is not None:
            camera.key_lens(cam, frames, result.camera_focal_px, image_size, f"{cam.name}_zoom")

        clip_name = ""
        if options.load_background:
            clip, new_clip = camera.load_clip(result.source_video, options.frame_offset)
            if clip is None:
                warnings.append(f"video not found, no camera background: {result.source_video}")
            else:
                if new_clip:
                    created.add(bpy.data.movieclips, clip)
                camera.set_background(cam, clip)
                clip_name = clip.name
        timings["camera"] = time.perf_counter() - t0

        names: list[str] = []
        keyed: dict[str, int] = {}
        unsure: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        meshes: list[str] = []
        mesh_seconds: dict[str, dict[str, float]] = {}
        skin = None
        if result.body is not None and options.with_mesh and result.num_people:
            skin = next((m for m in bpy.data.materials if m.get(SKIN_TAG)), None)
            if skin is None:  # one skin material for every import
                skin = mesh.skin_material()
                skin[SKIN_TAG] = True
                created.add(bpy.data.materials, skin)
        t_rig = t_key = t_mesh = 0.0
        for p, track_id in enumerate(result.track_ids):
            t1 = time.perf_counter()
            name = f"GenHMR_person_{int(track_id)}"
            obj = armature.build_armature(name, result.rest_joints[p], coll, view_layer)
            reimport.tag(obj, "rig", int(track_id))
            created.add(bpy.data.armatures, obj.data)
            created.add(bpy.data.objects, obj)
            rest = armature.bone_rest_rotations(obj)
            t2 = time.perf_counter()
            quats, root = person_motion(result, p, rest, (height, turn))
            confident = (result.joint_confidence[p] >= options.min_confidence
                         if options.min_confidence > 0 else None)
            # the seen frames, and the gaps between them the generative method bridged (their
            # confidence is 0: they are marked unsure)
            solved = gaps.solved_frames(result.valid[p], result.method)
            stats = keyframes.keyframe_person(obj, quats, root, frames, solved,
                                              f"{obj.name}_motion", confident)
            if result.foot_contact is not None:
                keyframes.keyframe_contacts(obj, frames, solved, result.foot_contact[p])
            keyframes.keyframe_confidence(obj, frames, solved, result.joint_confidence[p])
            obj.data.show_bone_colors = True  # the bones' colours say how sure each joint is
            unsure[obj.name] = (frames[solved], confidence.frame_confidence(
                result.joint_confidence[p][solved]))
            t_rig += t2 - t1
            t_key += time.perf_counter() - t2
            names.append(obj.name)
            keyed[obj.name] = stats["keys_per_curve"]
            if skin is not None:
                t3 = time.perf_counter()
                body_obj, seconds = _build_person_mesh(result, p, obj, coll, skin, options,
                                                       created, warnings)
                reimport.tag(body_obj, "body", int(track_id))
                meshes.append(body_obj.name)
                mesh_seconds[body_obj.name] = seconds
                t_mesh += time.perf_counter() - t3
            if options.hide_when_unseen:
                keys = scene_space.visibility_keys(frames, solved)
                for target in [obj] + ([body_obj] if skin is not None else []):
                    keyframes.keyframe_visibility(target, keys)
        ground_name = ""
        if options.with_ground:
            roots = [scene_space.camera_to_world(result.transl[p] + result.rest_joints[p, 0],
                                                 height, turn)[result.valid[p], :2]
                     for p in range(result.num_people)]
            plane = ground.build_ground(f"{coll.name} ground",
                                        np.concatenate(roots) if roots else np.zeros((0, 2)),
                                        coll)
            created.add(bpy.data.meshes, plane.data)
            created.add(bpy.data.objects, plane)
            reimport.tag(plane, "ground")
            ground_name = plane.name
            for i, block in enumerate(_raised_supports(result, height, turn)):
                obj = ground.build_support(f"{coll.name} support {block.height:.2f} m", block,
                                           coll)
                created.add(bpy.data.meshes, obj.data)
                created.add(bpy.data.objects, obj)
                reimport.tag(obj, "support", i)
        timings["armatures"] = t_rig
        timings["keyframes"] = t_key
        if skin is not None:
            timings["meshes"] = t_mesh

        if options.set_scene_settings:
            camera.apply_scene_settings(scene, image_size, result.fps, cam)
        if options.set_frame_range and len(frames):
            scene.frame_start = int(frames.min())
            scene.frame_end = int(frames.max())
    except BaseException:
        for action in set(bpy.data.actions) - actions_before:
            bpy.data.actions.remove(action)
        created.remove_all()
        camera.restore_scene_settings(scene, saved)
        raise
    return BuildReport(collection=coll.name, armatures=names, camera=cam.name,
                       camera_height=height, background=clip_name, keyed_frames=keyed,
                       seconds=timings, warnings=warnings, meshes=meshes,
                       mesh_seconds=mesh_seconds, ground=ground_name), unsure


def tag_collection(coll: bpy.types.Collection, frames: np.ndarray, options: BuildOptions
                   ) -> None:
    """What later edits need on the import's collection: the analysed scene frames
    (``rig/people.py``), and the result file and frame offset (re-running refinement on a
    range, ``ops/refine_range.py``: the job folder is the result's folder), and the job
    folder's revision the result is (its current one: the folder's own files were read)."""
    if len(frames):
        coll[reimport.FRAME_RANGE] = (int(frames.min()), int(frames.max()))
    if options.result_path:
        coll[reimport.RESULT_PATH] = str(options.result_path)
        coll[reimport.FRAME_OFFSET] = int(options.frame_offset)
        try:
            revision = job_revisions.current_revision(os.path.dirname(options.result_path))
        except job_revisions.RevisionError:  # the backend says so at the first edit
            revision = 0
        coll[reimport.JOB_REVISION] = revision


def scene_placement(result: result_format.JobResult, floor: ground_core.Ground | None = None
                    ) -> tuple[float, np.ndarray | None]:
    """The camera's height over the floor, and the per-frame turn from the level world into
    each frame's camera (None: a fixed camera level with the floor)."""
    floor = floor or _floor(result)
    return floor.camera_height, scene_space.scene_rotations(result.camera_rotation,
                                                            floor.normal, result.num_frames)


def person_motion(result: result_format.JobResult, p: int, rest: np.ndarray,
                  placement: tuple[float, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Person ``p``'s pose-bone quaternions (F, J, 4) and root location (F, 3) in the scene,
    for a rig whose bones rest at ``rest``: what the import keys (and a re-run re-keys)."""
    height, turn = placement
    quats = scene_space.bone_quaternions(result.global_orient[p], result.body_pose[p], rest,
                                         camera_rotation=turn)
    root = scene_space.root_locations(result.transl[p], result.rest_joints[p], rest[0], height,
                                      camera_rotation=turn)
    return quats, root


def _raised_supports(result: result_format.JobResult, height: float, turn: np.ndarray | None
                     ) -> list[supports.Support]:
    """The blocks under the levels above the floor people stood on (none for results without
    contacts and support levels)."""
    if result.support_height is None or result.foot_contact is None or not result.num_people:
        return []
    feet = np.stack([scene_space.camera_to_world(
        result.keypoints3d[p][:, list(contacts.CONTACT_INDEX)], height, turn)
        for p in range(result.num_people)])
    return supports.raised_supports(feet, result.support_height, result.foot_contact,
                                    result.valid)


def _floor(result: result_format.JobResult) -> ground_core.Ground:
    """The result's floor, or (older results without ``ground_plane``) the same estimate from
    the people's feet."""
    if result.ground_plane is not None:
        plane = np.asarray(result.ground_plane, dtype=np.float64)
        return ground_core.Ground(normal=plane[:3], offset=float(plane[3]), levels=(0.0,),
                                  support=(0,), estimated=True)
    return ground_core.ground_of_solve(result.keypoints3d, result.global_orient, result.valid,
                                       result.camera_rotation)
