"""The whole backend job on real frames (real MediaPipe model, real fit), and its failure modes."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from genhmr.camera import project
from genhmr.pipeline import (
    BodyModelError,
    InputVideoError,
    JobCancelled,
    JobError,
    JobOptions,
    NoPersonFoundError,
    Progress,
    run_job,
)

from genhmr_core.protocol import DEFAULT_REFINE_STEPS, START_DEFAULTS
from genhmr_core.result_format import load_result

pytestmark = pytest.mark.slow
STAGES = ["load", "detect", "track", "camera", "fit", "save"]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                             (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module", params=["default", "fit"])
def demo_job(request, media_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The sample clip through the default method (generative, the shipped model) and through
    the fitting baseline: the same contract and quality bar for both."""
    events: list[Progress] = []
    people: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("demo_job")
    method = {} if request.param == "default" else {"method": request.param}
    summary = run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(out), start=20,
                                 end=44, **method), progress=events.append,
                      on_person=lambda p, n: people.append((p, n)))
    return summary, events, people, request.param


def test_demo_clip_gives_a_tracked_fitted_person(demo_job):
    summary, _, people, method = demo_job
    result = load_result(summary.result_path)
    assert result.frame_indices.tolist() == list(range(20, 44))
    assert summary.num_people >= 1 and len(people) == summary.num_people
    main = int(result.valid.sum(1).argmax())
    assert result.valid[main].sum() >= 20  # the jumper is seen in almost every frame
    assert result.body_model == "default"
    assert result.method == ("generative" if method == "default" else method)
    # only the generative method knows how sure it was of each joint
    assert (result.joint_uncertainty is not None) == (result.method == "generative")
    # The license-free body travels with the result; each person's skeleton is that body's,
    # shaped by the betas estimated for them (within the body's range), at their size.
    body = result.body
    assert body is not None and body.name == "default"
    assert result.betas.shape == (summary.num_people, body.num_betas)
    assert np.all(np.abs(result.betas) <= 1.0 + 1e-6)
    sizes = result.body_scales()
    assert np.all((sizes > 0.7) & (sizes < 1.4)), sizes
    for p in range(summary.num_people):
        np.testing.assert_allclose(result.rest_joints[p],
                                   sizes[p] * body.shaped(result.betas[p])[1], atol=1e-5)
    # The recovered body reprojects onto the detector's keypoints: the median error is a small
    # fraction of the person's height in pixels.
    valid = result.valid[main]
    uv = project(result.keypoints3d[main, valid], result.camera_K)
    kp = result.keypoints2d[main, valid]
    confident = kp[..., 2] > 0.5
    err = np.linalg.norm(uv - kp[..., :2], axis=-1)[confident]
    height = np.ptp(kp[..., 1], axis=1).mean()
    assert np.median(err) < 0.05 * height, (np.median(err), height)
    # Depth is plausible for a person filling half the frame, and the body is upright
    # (head above pelvis in the image: smaller y).
    depth = result.transl[main, valid, 2]
    assert (depth > 1.0).all() and (depth < 20.0).all()
    head_y = result.joints3d[main, valid, 15, 1]
    pelvis_y = result.joints3d[main, valid, 0, 1]
    assert (head_y < pelvis_y).all()
    assert np.isfinite(result.joints3d).all()
    # demo.mp4 is filmed from a tripod: no camera motion is written (frames 0 and 229 show the
    # same background to the pixel)
    assert result.camera_rotation is None
    # No floor in this range: its only person stands on a box above the camera's eye level,
    # so no level below the camera is seen (the add-on then falls back to a default height).
    assert result.ground_plane is None


def test_progress_covers_every_stage_in_order(demo_job):
    summary, events, _, _ = demo_job
    order = [e.stage for e in events]
    firsts = [order.index(s) for s in STAGES]
    assert firsts == sorted(firsts)
    detect = [e for e in events if e.stage == "detect"]
    assert detect[-1].done == detect[-1].total == 24
    assert all(a.done <= b.done for a, b in itertools.pairwise(detect))
    assert set(summary.stage_seconds) >= {"load", "decode", "detect", "track", "camera", "fit",
                                          "save"}
    assert sum(summary.stage_seconds.values()) <= summary.elapsed_s + 1e-3


def test_cancel_stops_early_and_writes_nothing(media_dir: Path, tmp_path: Path):
    seen: list[Progress] = []

    def should_stop() -> bool:
        return sum(e.stage == "detect" for e in seen) >= 2

    with pytest.raises(JobCancelled):
        run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path)),
                progress=seen.append, should_stop=should_stop)
    assert not (tmp_path / "result.npz").exists()
    assert max(e.done for e in seen if e.stage == "detect") < 60


def test_corrupt_video_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(InputVideoError, match=r"cannot open video|no decodable frames"):
        run_job(JobOptions(video=str(bad), out_dir=str(tmp_path / "out")))
    with pytest.raises(InputVideoError, match="not found"):
        run_job(JobOptions(video=str(tmp_path / "missing.mp4"), out_dir=str(tmp_path)))
    assert not (tmp_path / "out" / "result.npz").exists()


def test_video_without_people_says_so(tmp_path: Path):
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (9, 9), 3)
              for _ in range(12)]
    video = write_video(tmp_path / "empty.avi", frames)
    with pytest.raises(NoPersonFoundError, match="no person found"):
        run_job(JobOptions(video=str(video), out_dir=str(tmp_path / "out"), tiling="off"))
    assert not (tmp_path / "out" / "result.npz").exists()


@pytest.mark.parametrize("module", ["person_boxes", "landmark_model"])
def test_a_missing_detection_model_is_a_clear_job_error(module: str, media_dir: Path,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    import importlib

    from genhmr.errors import DetectorModelError

    missing = tmp_path / "gone.onnx"
    monkeypatch.setattr(importlib.import_module(f"genhmr.detection.{module}"),
                        "DEFAULT_MODEL_PATH", missing)
    with pytest.raises(DetectorModelError, match=r"gone\.onnx.*(missing|restore)") as info:
        run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path / "out"),
                           end=3))
    assert info.value.kind == "detector"
    assert not (tmp_path / "out" / "result.npz").exists()


def test_job_options_are_the_protocols_start_options_with_its_defaults():
    """One list of job options and their defaults (``START_DEFAULTS``): an option added to the
    backend's ``JobOptions`` but not to the protocol (or the other way round) fails here."""
    defaults = {f.name: f.default for f in dataclasses.fields(JobOptions)
                if f.name not in ("video", "out_dir")}
    assert defaults == START_DEFAULTS
    assert JobOptions.from_request({"video": "v.mp4", "out_dir": "o"}) == JobOptions("v.mp4", "o")


def test_a_single_frame_is_a_legitimate_input(media_dir: Path, tmp_path: Path):
    """A still image or a very short range: people seen in (more than half of) its frames are
    kept, and each gets a body (no temporal terms needed)."""
    summary = run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path),
                                 start=45, end=46, method="fit"))
    result = load_result(summary.result_path)
    assert summary.num_people == 2 and result.valid.shape == (2, 1) and result.valid.all()
    assert max(summary.reprojection_px) < 20


def test_the_artists_lens_sets_the_focal_length_and_the_depth(media_dir: Path,
                                                             tmp_path: Path):
    """``focal_px`` wins over ``lens_35mm``, which wins over the default; a longer lens puts the
    same people farther away, about in proportion, at the same pixels."""
    from genhmr.camera import default_focal_px, focal_from_35mm

    def job(name: str, **lens: float) -> object:
        return load_result(run_job(JobOptions(
            video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path / name), start=45, end=46,
            method="fit", **lens)).result_path)

    default, lens, both = job("default"), job("lens", lens_35mm=50.0), \
        job("both", lens_35mm=50.0, focal_px=1200.0)
    width, height = 1768, 994
    assert default.camera_K[0, 0] == pytest.approx(default_focal_px(width, height), rel=1e-5)
    assert lens.camera_K[0, 0] == pytest.approx(focal_from_35mm(50.0, width, height), rel=1e-5)
    assert both.camera_K[0, 0] == pytest.approx(1200.0)
    ratio = lens.camera_K[0, 0] / default.camera_K[0, 0]  # 2,351 / 1,531 px
    depth = lens.transl[:, 0, 2] / default.transl[:, 0, 2]
    np.testing.assert_allclose(depth, ratio, rtol=0.1)


def test_the_artists_person_height_sizes_everybody_about_the_camera(media_dir: Path,
                                                                     tmp_path: Path):
    """``person_height_m``: the main person (seen in the most frames; of those, the tallest in
    the picture) stands that tall and everybody is scaled by the same factor about the camera:
    the solve is the estimated one times that factor, point for point, so the picture does not
    move."""
    from genhmr.body.default_body import load_default_body
    from genhmr.floor_sizing import standing_height

    def job(name: str, **height: float) -> Path:
        run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path / name),
                           start=45, end=48, method="fit", **height))
        return load_result(tmp_path / name / "solve.npz")

    estimated, known = job("estimated"), job("known", person_height_m=1.55)
    body = load_default_body()
    seen = known.valid.sum(axis=1)
    tall = [np.median(known.boxes[p, known.valid[p], 3] - known.boxes[p, known.valid[p], 1])
            for p in range(known.num_people)]
    main = max(range(known.num_people), key=lambda p: (seen[p], tall[p]))
    assert standing_height(body, known.betas[main], known.body_scales()[main]) == \
        pytest.approx(1.55, abs=1e-3)
    factor = known.body_scales() / estimated.body_scales()
    assert known.num_people == 2 and np.ptp(factor) < 1e-5 and abs(factor[0] - 1) > 0.02
    np.testing.assert_array_equal(known.betas, estimated.betas)
    np.testing.assert_allclose(known.keypoints3d, factor[0] * estimated.keypoints3d,
                               atol=1e-4)


def test_a_panning_camera_is_recovered_and_written(media_dir: Path, tmp_path: Path,
                                                  video_iter, monkeypatch):
    """demo.mp4 frames 40-63 filmed again by a camera panning 6 degrees and tilting 2 (each
    frame turned by the homography K R K^-1 of the job's own intrinsics): the result's
    camera_rotation matches the known rotation within 0.2 degrees; with camera_motion off the
    result has none."""
    from genhmr.camera import intrinsics
    from scipy.spatial.transform import Rotation

    frames = [frame for _, frame in video_iter(media_dir / "demo.mp4", 40, 64)]
    height, width = frames[0].shape[:2]
    K = intrinsics(width, height)
    t = np.linspace(0.0, 1.0, len(frames))[:, None]
    truth = Rotation.from_euler("yx", np.hstack([6.0 * t, -2.0 * t]), degrees=True).as_matrix()
    turned = [cv2.warpPerspective(frame, K @ rotation @ np.linalg.inv(K), (width, height),
                                  borderMode=cv2.BORDER_REFLECT)
              for frame, rotation in zip(frames, truth, strict=True)]
    video = write_video(tmp_path / "panned.avi", turned, fps=30.0)
    # the turns are read from the frames the detection pass decodes (genhmr.camera_pass): the
    # job decodes the clip once (a second pass would go through pipeline.read_frames)
    from genhmr import job_store, pipeline
    from genhmr.video import probe

    def second_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("the job decoded the clip a second time")

    monkeypatch.setattr(pipeline, "read_frames", second_pass)
    summary = run_job(JobOptions(video=str(video), out_dir=str(tmp_path / "on"), method="fit"))
    monkeypatch.undo()
    result = load_result(summary.result_path)
    assert result.camera_rotation is not None and summary.num_people >= 1
    error = Rotation.from_matrix(result.camera_rotation.astype(np.float64) @
                                 np.swapaxes(truth, 1, 2)).magnitude()
    assert np.degrees(error).max() < 0.2, np.degrees(error)
    # ... and they are the turns a second pass over the video reads, with the tracks' boxes
    # (the detection pass masks every box the detector gave; the tracks keep a subset)
    again, K_again, _ = pipeline._camera_rotation(
        JobOptions(video=str(video), out_dir=str(tmp_path / "on")), probe(str(video)),
        job_store.load_tracks(tmp_path / "on"), K, pipeline._Clock(), lambda progress: None,
        lambda: False)
    assert K_again[0, 0] == pytest.approx(result.camera_K[0, 0], rel=1e-6)  # stored float32
    turned_apart = Rotation.from_matrix(again.astype(np.float64) @ np.swapaxes(
        result.camera_rotation.astype(np.float64), 1, 2)).magnitude()
    assert np.degrees(turned_apart).max() < 0.01, np.degrees(turned_apart)
    # the turns tell the focal length (genhmr.focal_from_turns), the one the frames were
    # turned with (the default guess here; measured 0.1 % off)
    assert result.camera_K[0, 0] == pytest.approx(K[0, 0], rel=0.02)
    # ... unless the artist gave the lens: theirs is kept, and the turns are read with it
    given = load_result(run_job(JobOptions(video=str(video), out_dir=str(tmp_path / "lens"),
                                           method="fit", focal_px=1.3 * K[0, 0])).result_path)
    assert given.camera_K[0, 0] == pytest.approx(1.3 * K[0, 0], rel=1e-6)
    assert given.camera_rotation is not None
    # the woman walks on the grass here: the floor is found, nearly level with this camera,
    # about 2 m below it
    assert result.ground_plane is not None
    assert result.ground_plane[:3] @ np.array([0.0, -1.0, 0.0]) > np.cos(np.radians(10.0))
    assert 1.0 < -result.ground_plane[3] < 4.0, result.ground_plane
    # and when each foot is planted: probabilities, 0 where a person is not seen, and the
    # walking woman's feet on the ground part of the time
    contact = result.foot_contact
    assert contact is not None and contact.shape == (summary.num_people, len(frames), 4)
    assert (contact >= 0).all() and (contact <= 1).all()
    assert (contact[~result.valid] == 0).all()
    assert (contact[result.valid] > 0.5).any()
    # world trajectories for other readers: the pelvis a leg's length above the level each
    # person stands on (the woman on the grass: the floor), 0 where not seen
    assert result.root_world.shape == (summary.num_people, len(frames), 3)
    assert (result.root_world[~result.valid] == 0).all()
    assert (result.support_height[result.valid] >= 0).all()
    above = (result.root_world[..., 2] - result.support_height)[result.valid]
    assert 0.6 < np.median(above) < 1.3, np.median(above)
    off = run_job(JobOptions(video=str(video), out_dir=str(tmp_path / "off"), method="fit",
                             camera_motion=False))
    assert load_result(off.result_path).camera_rotation is None
    # depth smoothing moves people along their rays only: without it, the same pixels (both
    # with the camera fixed, so with one focal length; foot locking off in both, as it lifts
    # a body solved low onto its pinned feet); pose smoothing leaves the pelvis where it is
    # and takes the tremor out of the rest
    raw, smooth = (load_result(run_job(JobOptions(
        video=str(video), out_dir=str(tmp_path / name), method="fit", depth_smoothing_s=depth,
        pose_smoothing_s=pose, camera_motion=False, foot_locking=False)).result_path)
        for name, depth, pose in (("raw", 0.0, 0.0), ("smooth", JobOptions.depth_smoothing_s,
                                                       JobOptions.pose_smoothing_s)))
    both = raw.valid & smooth.valid
    uv = [r.joints3d[both][:, 0, :2] / r.joints3d[both][:, 0, 2:] for r in (raw, smooth)]
    np.testing.assert_allclose(uv[0], uv[1], atol=1e-5)
    assert not np.allclose(raw.transl[both], smooth.transl[both])

    def tremor(r: object) -> float:
        """Mean jerk (m/frame³) of the pelvis-centred keypoints over runs of solved frames."""
        rel = r.keypoints3d - r.joints3d[:, :, :1]
        jerk = np.linalg.norm(np.diff(rel, 3, axis=1), axis=-1).mean(-1)
        inside = r.valid[:, 3:] & r.valid[:, 2:-1] & r.valid[:, 1:-2] & r.valid[:, :-3]
        return float(jerk[inside].mean())

    assert tremor(smooth) < 0.7 * tremor(raw), (tremor(smooth), tremor(raw))
    # foot locking: planted feet slide less than in the same job without it, and the result
    # stays self-consistent (its joints are the forward kinematics of its pose)
    from genhmr_core.contacts import CONTACT_INDEX, sliding_mm_per_frame
    from genhmr_core.posed_skeleton import forward_kinematics
    from genhmr_core.scene_space import to_world_axes

    free = load_result(run_job(JobOptions(video=str(video), out_dir=str(tmp_path / "free"),
                                          method="fit", foot_locking=False)).result_path)

    def sliding(r: object) -> float:
        return float(np.nanmean([sliding_mm_per_frame(
            to_world_axes(r.keypoints3d[p], r.camera_rotation)[:, list(CONTACT_INDEX)],
            r.foot_contact[p]) for p in range(r.num_people)]))

    assert sliding(result) < 0.6 * sliding(free), (sliding(result), sliding(free))
    p = int(result.valid.sum(1).argmax())
    fk, _ = forward_kinematics(result.rest_joints[p], result.global_orient[p],
                               result.body_pose[p], result.transl[p])
    np.testing.assert_allclose(fk[result.valid[p]], result.joints3d[p][result.valid[p]],
                               atol=1e-4)
    assert "camera" not in off.stage_seconds


def test_bad_options_are_clear_errors(media_dir: Path, tmp_path: Path):
    video = str(media_dir / "demo.mp4")
    with pytest.raises(BodyModelError, match="SMPL-X model folder not found"):
        run_job(JobOptions(video=video, out_dir=str(tmp_path), end=5,
                           smplx_dir=str(tmp_path / "nowhere")))
    with pytest.raises(JobError, match="unknown method"):
        run_job(JobOptions(video=video, out_dir=str(tmp_path), method="magic"))
    for steps in (-1, 10_000, 2.5):
        with pytest.raises(JobError, match="refine_steps"):
            run_job(JobOptions(video=video, out_dir=str(tmp_path), refine_steps=steps))
    for threshold in (0.0, 1.0, "0.5"):
        with pytest.raises(JobError, match="contact_threshold"):
            run_job(JobOptions(video=video, out_dir=str(tmp_path), contact_threshold=threshold))
    for seconds in (-0.1, 5.0, "0.2"):
        with pytest.raises(JobError, match="depth_smoothing_s"):
            run_job(JobOptions(video=video, out_dir=str(tmp_path), depth_smoothing_s=seconds))
    for name, value in (("focal_px", -3.0), ("lens_35mm", "26"), ("lens_35mm", 0.5),
                        ("person_height_m", 3.2), ("person_height_m", True),
                        ("pose_smoothing_s", -0.01), ("pose_smoothing_s", 1.0),
                        ("pose_smoothing_s", "0.03")):
        with pytest.raises(JobError, match=name):
            run_job(JobOptions(video=video, out_dir=str(tmp_path), **{name: value}))
    with pytest.raises(InputVideoError, match="empty frame range"):
        run_job(JobOptions(video=video, out_dir=str(tmp_path), start=10, end=10))


def test_users_smplx_model_drives_the_fit(media_dir: Path, smplx_model_dir: Path, tmp_path: Path,
                                          make_smplx_model):
    """With an SMPL-X folder the body is the user's SMPL-X (here a generated file in the real
    format): its mesh goes into the result, and each person's skeleton is the model's own for
    the betas estimated from their bone lengths."""
    from genhmr.body import load_smplx
    from genhmr.body.smplx_model import smplx_rest_joints

    summary = run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path),
                                 start=20, end=30, smplx_dir=str(smplx_model_dir)))
    result = load_result(summary.result_path)
    assert result.body_model == "smplx"
    assert result.body is not None and result.body.name == "smplx-neutral"
    assert result.body.num_vertices == 10475 and result.betas.shape[1] == 10
    layer = load_smplx(smplx_model_dir)
    for p in range(summary.num_people):
        expected = smplx_rest_joints(layer, result.betas[p])
        np.testing.assert_allclose(result.rest_joints[p], expected, atol=1e-5)
    assert np.abs(result.betas).max() > 1e-3  # a shape was estimated, not the average body

    make_smplx_model(tmp_path / "models", genders=("female",))
    fixed = run_job(JobOptions(video=str(media_dir / "demo.mp4"), out_dir=str(tmp_path / "avg"),
                               start=20, end=30, smplx_dir=str(tmp_path / "models"),
                               estimate_shape=False, smplx_gender="female"))
    result = load_result(fixed.result_path)
    assert result.body.name == "smplx-female"
    np.testing.assert_allclose(result.betas, 0.0)


def test_refine_steps_reach_the_generative_refinement(media_dir: Path, tmp_path: Path):
    """The job option drives stage 2: with no steps the bodies are the model's samples, with
    the default they are pulled onto the keypoints (lower reprojection error)."""
    reprojection = {}
    for steps in (0, DEFAULT_REFINE_STEPS):
        summary = run_job(JobOptions(video=str(media_dir / "demo.mp4"),
                                     out_dir=str(tmp_path / str(steps)), start=20, end=30,
                                     refine_steps=steps))
        reprojection[steps] = float(np.mean(summary.reprojection_px))
    assert reprojection[DEFAULT_REFINE_STEPS] < 0.8 * reprojection[0], reprojection

