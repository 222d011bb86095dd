"""Settings stored per scene (what to analyse) and runtime status stored per window manager.

(No ``from __future__ import annotations`` in modules declaring bpy properties: Blender reads
the annotations as property definitions and must see objects, not strings.)

Status lives on the window manager on purpose: it is not saved in the .blend, so a file saved
during an analysis does not reopen showing a stale "running" state.
"""

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ._core import alternatives, confidence, protocol

# The job options' defaults, written once for the add-on, the backend and its command line
_DEFAULTS = protocol.START_DEFAULTS

RERUN_RANGES = (
    ("PREVIEW", "Preview Range", "The timeline's preview range (else the scene range)"),
    ("SELECTED", "Selected Keys", "From the first to the last selected key of the rig"),
    ("AROUND", "Around Current Frame", "The current frame plus and minus Around"),
)


class GENHMR_PG_settings(bpy.types.PropertyGroup):
    """Per-scene choices of the GenHMR panel."""

    source: EnumProperty(
        name="Source",
        items=[("STRIP", "Strip", "A movie strip of the Video Sequencer"),
               ("CLIP", "Clip", "A Movie Clip data-block"),
               ("FILE", "File", "A video file on disk")],
        default="STRIP")
    strip_name: StringProperty(
        name="Strip", description="Movie strip to analyse; empty = the active strip")
    clip: PointerProperty(
        name="Clip", type=bpy.types.MovieClip, description="Movie Clip to analyse")
    filepath: StringProperty(
        name="Video", subtype="FILE_PATH", description="Video file to analyse")
    range_mode: EnumProperty(
        name="Range",
        items=[("SOURCE", "Whole Video", "Every frame of the strip (as trimmed) or video"),
               ("SCENE", "Scene Range", "Only the frames inside the scene's frame range"),
               ("CUSTOM", "Custom", "The scene frames given below")],
        default="SOURCE")
    frame_start: IntProperty(
        name="Start", default=1, min=0, description="First scene frame to analyse")
    frame_end: IntProperty(
        name="End", default=100, min=0, description="Last scene frame to analyse (inclusive)")
    method: EnumProperty(
        name="Method",
        items=[("generative", "Generative",
                "Sample poses with the trained model from the 2D keypoints, then refine them "
                "against the keypoints over the whole clip (most accurate)"),
               ("fit", "Fit",
                "Fit the skeleton to the detector's 3D landmarks frame by frame (no model; "
                "the baseline the generative method is measured against)")],
        default=_DEFAULTS["method"],
        description="How 3D bodies are estimated from the detected keypoints")
    refine_steps: IntProperty(
        name="Refinement Steps", default=_DEFAULTS["refine_steps"], min=0, max=200,
        description="Optimisation steps that fit the sampled poses to the 2D keypoints over "
                    "the clip (generative method). More: tighter fit, slower; 0 = the model's "
                    "samples as they are")
    tiling: EnumProperty(
        name="Small People",
        items=[("auto", "Auto", "Search large tiles of the frame, and a fine grid of tiles "
                                "once a second for distant people"),
               ("on", "Always", "Search the fine grid every time (slower, finds distant "
                                "people soonest)"),
               ("off", "Off", "Whole frame only (fastest)")],
        default=_DEFAULTS["tiling"])
    max_people: IntProperty(
        name="Max People", default=_DEFAULTS["max_people"], min=1, max=32,
        description="Most people to track at once")
    estimate_shape: BoolProperty(
        name="Estimate Body Shape",
        description="Fit each person's body shape (limb lengths, build) from the whole clip; "
                    "off = the average body for everyone",
        default=_DEFAULTS["estimate_shape"])
    lens_35mm: FloatProperty(
        name="Lens (35 mm equiv.)", default=0.0, min=0.0, max=2000.0, step=100, precision=0,
        description="The camera's lens as a 35 mm-equivalent focal length, as a phone's spec "
                    "sheet or a photo's EXIF gives it (a video mode that crops the sensor "
                    "makes it longer). It sets how far away the people are; 0 = automatic: "
                    "the lens the phone wrote into the file, else read from the background "
                    "when the camera pans or tilts, else a 60 degree view across the longer "
                    "side of the picture")
    person_height: FloatProperty(
        name="Person Height", default=0.0, min=0.0, max=2.5, step=1, precision=2,
        unit="LENGTH",
        description="The main person's standing height, if you know it (the person seen in "
                    "the most frames; of those, the tallest in the picture). Everybody is "
                    "scaled with them about the camera, so the picture stays and the floor, "
                    "the camera's height and every rig take the true size; 0 = automatic: "
                    "each person's size from their bone lengths and the floor they share")
    pose_smoothing: FloatProperty(
        name="Pose Smoothing (s)", default=_DEFAULTS["pose_smoothing_s"], min=0.0, max=0.5,
        step=1, precision=3,
        description="Take the frame-to-frame tremor out of each body's pose: every bone's "
                    "orientation smoothed over this many seconds; 0 = off, the pose as each "
                    "frame was fitted. Lower it for very fast moves (a kick, a punch)")
    depth_smoothing: FloatProperty(
        name="Depth Smoothing (s)", default=_DEFAULTS["depth_smoothing_s"], min=0.0, max=2.0,
        step=5, precision=2,
        description="Smooth each person's distance from the camera over this many seconds "
                    "(they keep their place in the picture); 0 = off, the raw per-frame depth")
    foot_locking: BoolProperty(
        name="Foot Locking", default=_DEFAULTS["foot_locking"],
        description="Keep planted feet still in the world (the legs bend to reach them); off = "
                    "feet as solved, which slide by a few centimetres")
    contact_threshold: FloatProperty(
        name="Contact Threshold", default=_DEFAULTS["contact_threshold"], min=0.05, max=0.95,
        step=5, precision=2,
        description="How sure the analysis must be that a foot rests on the ground before it "
                    "is locked; lower locks more")
    # No update callback (recolouring at once): the bpy 4.2 module crashes at exit when a
    # property holds a Python callback. The frame-change handler and Mark Unsure recolour.
    unsure_threshold: FloatProperty(
        name="Unsure Below", default=confidence.DEFAULT_THRESHOLD, min=0.0, max=1.0, step=5,
        precision=2,
        description="Confidence under which a joint's bone turns red (from the next frame "
                    "change) and a stretch of frames gets a timeline marker (Mark Unsure)")
    camera_motion: BoolProperty(
        name="Camera Motion",
        description="Estimate how the camera turned (pan, tilt, roll) from the background and "
                    "key the scene camera with it, so the rigs stay in one world while the "
                    "footage pans; off = a fixed camera",
        default=_DEFAULTS["camera_motion"])

    # Re-running refinement on a range of the active rig (ops/refine_range.py)
    rerun_range: EnumProperty(name="Range", items=RERUN_RANGES, default="PREVIEW",
                              description="Which frames Re-run on Range refines again")
    rerun_around: IntProperty(name="Around", default=10, min=1, max=500,
                              description="Frames before and after the current one")
    rerun_steps: IntProperty(name="Steps", default=0, min=0, max=1000,
                             description="Refinement steps; 0 = as in the analysis")
    rerun_smoothing: FloatProperty(
        name="Smoothing", default=1.0, min=0.0, max=100.0, soft_max=10.0,
        description="Temporal smoothing relative to the analysis's (2 = twice as smooth)")
    rerun_min_confidence: FloatProperty(
        name="Keypoint Confidence", default=protocol.DEFAULT_KEYPOINT_CONFIDENCE, min=0.0,
        max=0.95, description="Ignore detector keypoints less sure than this (raise it where "
                              "a hidden limb was guessed wrongly)")
    rerun_keep_selected: BoolProperty(
        name="Keep Selected Bones", default=False,
        description="Bones selected in Pose Mode keep their keys (bones fixed by hand); the "
                    "rest of the body is refined around them")

    # Alternatives for the same range (ops/alternatives.py)
    alternatives_count: IntProperty(
        name="Alternatives", default=alternatives.DEFAULT_ALTERNATIVES, min=1,
        max=alternatives.MAX_ALTERNATIVES,
        description="How many other readings of the range Sample Alternatives offers")
    alternatives_variety: FloatProperty(
        name="Variety", default=alternatives.DEFAULT_TEMPERATURE, min=0.1, max=3.0,
        description="Sampling temperature: higher gives readings that differ more (and are "
                    "less likely)")


class GENHMR_PG_runtime(bpy.types.PropertyGroup):
    """What the panel shows about the running or last job (not saved in files)."""

    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(default="")
    error: StringProperty(default="")
    result_path: StringProperty(default="")


CLASSES = (GENHMR_PG_settings, GENHMR_PG_runtime)


def register() -> None:
    bpy.types.Scene.genhmr = PointerProperty(type=GENHMR_PG_settings)
    bpy.types.WindowManager.genhmr = PointerProperty(type=GENHMR_PG_runtime)


def unregister() -> None:
    del bpy.types.WindowManager.genhmr
    del bpy.types.Scene.genhmr
