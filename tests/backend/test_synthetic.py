"""Synthetic conditioning: camera sampler, MediaPipe noise model, render set (one slow real
render + MediaPipe run)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from genhmr.camera import project as camera_project
from genhmr.synthetic import cameras, noise, noise_persistence
from genhmr.synthetic.cameras import CameraConfig, sample_camera

from genhmr_core.keypoints import KEYPOINT_INDEX, NUM_KEYPOINTS
from genhmr_core.rotations import axis_angle_to_matrix


@pytest.fixture(scope="module")
def rest_keypoints() -> np.ndarray:
    """(25, 3) keypoints of the default body at rest, pelvis at the origin (numpy only)."""
    from genhmr.body.default_body import load_default_asset

    mesh, regressor = load_default_asset()
    verts, joints = mesh.shaped(None)
    return regressor.vertex @ verts + regressor.joint @ joints - joints[0]


def _walking_points(rest: np.ndarray, frames: int = 60, speed: float = 1.5) -> np.ndarray:
    """A rigid body walking along +Z with its pelvis 1 m above the floor."""
    path = np.stack([np.zeros(frames), np.ones(frames), speed * np.arange(frames) / 30], -1)
    return rest[None] + path[:, None]


# --------------------------------------------------------------------------------------------
# Cameras


def _angles(track: cameras.CameraTrack) -> tuple[np.ndarray, np.ndarray]:
    """Pitch (down positive) and roll of each frame, degrees, from the rotation alone."""
    right, down, forward = track.R[:, 0], track.R[:, 1], track.R[:, 2]
    pitch = np.degrees(np.arcsin(-forward[:, 1]))
    roll = np.degrees(np.arctan2(right[:, 1], -down[:, 1]))
    return pitch, roll


def test_camera_angle_distributions_follow_the_config(rest_keypoints):
    cfg = CameraConfig(pitch_limits=(-89.0, 89.0), moving_fraction=0.0, lateral=0.0,
                       truncation_fraction=0.0)
    rng = np.random.default_rng(0)
    pitch, roll, yaw = [], [], []
    for _ in range(1500):
        track = sample_camera(rng, rest_keypoints[None] + [0, 1, 0], config=cfg, floor_y=-1e3)
        p, r = _angles(track)
        pitch.append(p[0])
        roll.append(r[0])
        yaw.append(math.atan2(track.centres[0, 0], track.centres[0, 2]))
    pitch, roll = np.array(pitch), np.array(roll)
    assert abs(pitch.mean() - cfg.pitch_mean) < 2.0
    assert abs(pitch.std() - cfg.pitch_std) < 2.0
    assert abs(roll.mean()) < 1.0 and abs(roll.std() - cfg.roll_std) < 1.0
    # Yaw uniform on the circle: the mean resultant length of 1500 uniform angles is ~0.02.
    assert abs(np.mean(np.exp(1j * np.array(yaw)))) < 0.08


def test_cameras_keep_the_person_in_frame_and_above_the_floor(rest_keypoints):
    points = _walking_points(rest_keypoints)
    rng = np.random.default_rng(1)
    moving, distances = [], []
    for _ in range(200):
        track = sample_camera(rng, points, fps=30.0, floor_y=-0.02)
        uv = track.project(points)
        w, h = track.image_size
        moving.append(track.moving)
        distances.append(np.linalg.norm(track.to_camera(points).mean(1), axis=-1).mean())
        assert (track.to_camera(points)[..., 2] > 0.25).all()
        assert (track.centres[:, 1] > 0.2).all(), "camera under the floor"
        if not track.truncation_allowed:
            assert (uv[..., 0] >= -1).all() and (uv[..., 0] <= w + 1).all()
            assert (uv[..., 1] >= -1).all() and (uv[..., 1] <= h + 1).all()
        if track.moving:  # smooth: no jumps of the camera centre between frames
            assert np.abs(np.diff(track.centres, 2, axis=0)).max() < 0.05
        else:
            assert np.allclose(track.R, track.R[:1]) and np.allclose(track.t, track.t[:1])
    assert 0.65 < np.mean(moving) < 0.85
    assert np.min(distances) >= 1.9 and np.percentile(distances, 90) > 6.0


def test_min_person_px_brings_the_camera_close_enough(rest_keypoints):
    cfg = CameraConfig(image_sizes=((640, 480),), min_person_px=230.0, truncation_fraction=0.0)
    rng = np.random.default_rng(2)
    for _ in range(50):
        pts = rest_keypoints[None] + [0, 1, 0]
        track = sample_camera(rng, pts, config=cfg)
        uv = track.project(pts)[0]
        assert np.ptp(uv, axis=0).max() > 0.95 * 230.0


def test_projection_matches_genhmr_camera(rest_keypoints):
    rng = np.random.default_rng(3)
    points = _walking_points(rest_keypoints, 10)
    track = sample_camera(rng, points)
    uv = track.project(points)
    for f in range(track.num_frames):
        cam = track.R[f] @ points[f].T + track.t[f][:, None]
        np.testing.assert_allclose(uv[f], camera_project(cam.T, track.K[f]), atol=1e-9)
        assert np.allclose(track.R[f] @ track.R[f].T, np.eye(3), atol=1e-9)
        assert np.linalg.det(track.R[f]) > 0.999


def test_camera_axes_are_opencv():
    """Looking at the origin from +Z, level: world up is image up, world +X (the subject's
    left, facing the camera) is image right... seen from the front, so on the viewer's right."""
    R, t = cameras.look_at(np.array([[0.0, 0.0, 5.0]]), np.zeros((1, 3)))
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    up = camera_project(R[0] @ np.array([0.0, 1.0, 0.0]) + t[0], K)
    left = camera_project(R[0] @ np.array([1.0, 0.0, 0.0]) + t[0], K)
    assert up[1] < 240 and abs(up[0] - 320) < 1e-6
    assert left[0] > 320


def test_camera_sampler_is_seeded(rest_keypoints):
    pts = _walking_points(rest_keypoints, 20)
    a = sample_camera(np.random.default_rng(7), pts)
    b = sample_camera(np.random.default_rng(7), pts)
    c = sample_camera(np.random.default_rng(8), pts)
    assert np.array_equal(a.R, b.R) and np.array_equal(a.t, b.t) and np.array_equal(a.K, b.K)
    assert not np.allclose(a.t, c.t)


# --------------------------------------------------------------------------------------------
# Noise model


def _scene(rest: np.ndarray, sequences: int, frames: int, seed: int = 0):
    """Bodies turning in front of random cameras: camera-space keypoints, K, sizes, heights and
    bias frames (every keypoint in the body's frame: rigid bodies)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((sequences, frames, NUM_KEYPOINTS, 3))
    frames_rot = np.zeros((sequences, frames, NUM_KEYPOINTS, 3, 3))
    K = np.zeros((sequences, frames, 3, 3))
    for b in range(sequences):
        yaw = rng.uniform(0, 2 * np.pi) + np.linspace(0, rng.normal(0, 0.5), frames)
        G = axis_angle_to_matrix(np.stack([np.zeros(frames), yaw, np.zeros(frames)], -1))
        pts = np.einsum("tij,kj->tki", G, rest) + np.array([0, 1.0, 0])
        cam = sample_camera(rng, pts, image_size=(640, 480))
        X[b] = cam.to_camera(pts)
        frames_rot[b] = (cam.R @ G)[:, None]
        K[b] = cam.K
    height = rng.uniform(1.5, 2.0, (sequences, 1)) * np.ones((1, frames))
    return X, K, np.array([640.0, 480.0]), height, frames_rot


def _true_model(rng: np.random.Generator) -> noise.NoiseModel:
    m = noise.NoiseModel()
    m.bias = rng.normal(0, 0.03, (NUM_KEYPOINTS, 3))
    m.jitter = rng.uniform(0.005, 0.03, (NUM_KEYPOINTS, 2))
    m.outlier_rate = rng.uniform(0, 0.05, NUM_KEYPOINTS)
    m.outlier_scale, m.low_conf_scale, m.rho = 0.15, 2.0, 0.6
    m.vis_coef = np.tile([2.0, 3.0, 1.0, -4.0], (NUM_KEYPOINTS, 1)) + rng.normal(
        0, 0.5, (NUM_KEYPOINTS, 4))
    m.vis_std, m.vis_rho = rng.uniform(0.5, 1.5, NUM_KEYPOINTS), 0.5
    m.body_swap_rate, m.group_swap_rate, m.frame_miss_rate = 0.02, {"arms": 0.01,
                                                                     "legs": 0.03}, 0.05
    m.world_bias = rng.normal(0, 0.03, (NUM_KEYPOINTS, 3))
    m.world_std = rng.uniform(0.01, 0.05, (NUM_KEYPOINTS, 3))
    m.world_scale, m.world_scale_exponent, m.world_scale_std = 0.95, -0.8, 0.03
    m.world_frame, m.world_rot_std, m.world_rho = "ray", 3.0, 0.4
    return m


def test_apply_shapes_and_seed(rest_keypoints):
    X, K, size, height, frames = _scene(rest_keypoints, 3, 5)
    model = noise.NoiseModel.load()
    obs = model.apply(X, K, np.random.default_rng(0), image_size=size, body_height=height,
                      frames=frames, dt=1 / 30)
    assert obs.keypoints_2d.shape == (3, 5, NUM_KEYPOINTS, 2)
    assert obs.confidence.shape == (3, 5, NUM_KEYPOINTS)
    assert obs.world.shape == (3, 5, NUM_KEYPOINTS, 3) and obs.detected.shape == (3, 5)
    again = model.apply(X, K, np.random.default_rng(0), image_size=size, body_height=height,
                        frames=frames, dt=1 / 30)
    assert np.array_equal(obs.keypoints_2d, again.keypoints_2d, equal_nan=True)
    other = model.apply(X, K, np.random.default_rng(1), image_size=size, body_height=height,
                        frames=frames, dt=1 / 30)
    assert not np.array_equal(obs.keypoints_2d, other.keypoints_2d, equal_nan=True)
    one = model.apply(X[0, 0], K[0, 0], np.random.default_rng(0), image_size=size)
    assert one.keypoints_2d.shape == (NUM_KEYPOINTS, 2) and one.detected.shape == ()
    seq = model.apply(X[0], K[0], np.random.default_rng(0), image_size=size)  # torso frames
    assert seq.keypoints_2d.shape == (5, NUM_KEYPOINTS, 2)
    ok = obs.detected
    assert ((obs.confidence[ok] >= 0) & (obs.confidence[ok] <= 1)).all()
    assert np.isnan(obs.keypoints_2d[~ok]).all() and (obs.confidence[~ok] == 0).all()


def test_apply_statistics_match_the_parameters(rest_keypoints):
    X, K, size, height, frames = _scene(rest_keypoints, 200, 10, seed=4)
    m = noise.NoiseModel()  # no bias, no outliers, no swaps: pure jitter and visibility
    m.jitter = np.linspace(0.005, 0.04, NUM_KEYPOINTS)[:, None] * [1.0, 1.5]
    m.rho, m.rho_dt = 0.7, 1 / 30
    m.vis_coef = np.tile([1.0, 0.0, 0.0, 0.0], (NUM_KEYPOINTS, 1))
    m.vis_std = np.full(NUM_KEYPOINTS, 1.0)
    m.frame_miss_rate = 0.1
    obs = m.apply(X, K, np.random.default_rng(5), image_size=size, body_height=height,
                  frames=frames, dt=1 / 30)
    truth = noise.project(X, K)
    err = (obs.keypoints_2d - truth) / obs.person_scale_px[..., None, None]
    ok = obs.detected
    std = np.sqrt(np.nanmean(err[ok] ** 2, axis=0))
    np.testing.assert_allclose(std, m.jitter, rtol=0.12)
    assert abs((~ok).mean() - 0.1) < 0.02
    logit = np.log(obs.confidence[ok] / (1 - obs.confidence[ok]))
    assert abs(logit.mean() - 1.0) < 0.05 and abs(logit.std() - 1.0) < 0.05
    both = ok[:, 1:] & ok[:, :-1]
    z = err / m.jitter
    rho = np.nanmean(z[:, 1:][both] * z[:, :-1][both]) / np.nanmean(z[ok] ** 2)
    assert abs(rho - 0.7) < 0.05
    # Half the frame rate: the correlation is rho ** 2.
    half = m.apply(X, K, np.random.default_rng(6), image_size=size, body_height=height,
                   frames=frames, dt=2 / 30)
    e2 = (half.keypoints_2d - truth) / half.person_scale_px[..., None, None] / m.jitter
    both = half.detected[:, 1:] & half.detected[:, :-1]
    rho2 = np.mean(e2[:, 1:][both] * e2[:, :-1][both]) / np.mean(e2[half.detected] ** 2)
    assert abs(rho2 - 0.49) < 0.06


def test_fit_recovers_the_parameters_of_apply(rest_keypoints):
    rng = np.random.default_rng(0)
    true = _true_model(rng)
    X, K, size, height, frames = _scene(rest_keypoints, 250, 10, seed=1)
    # A world bias that turns or scales the whole body is indistinguishable from MediaPipe's
    # frame rotation and scale (all keypoints share one frame here): keep only the part that
    # changes the body's shape, which is what the fit can recover.
    hip = 0.5 * (rest_keypoints[KEYPOINT_INDEX["left_hip"]] + rest_keypoints[
        KEYPOINT_INDEX["right_hip"]])
    Y = rest_keypoints - hip
    basis = np.concatenate([np.cross(np.eye(3)[:, None], Y[None]), Y[None]], 0)  # (4, 25, 3)
    A = basis.reshape(4, -1).T
    b = true.world_bias.ravel()
    true.world_bias = (b - A @ np.linalg.lstsq(A, b, rcond=None)[0]).reshape(-1, 3)
    obs = true.apply(X, K, np.random.default_rng(1), image_size=size, body_height=height,
                     frames=frames, dt=1 / 30)
    pairs = noise.Pairs.from_observation(obs, X, K, size, height, frames, dt=1 / 30)
    fitted = noise.fit(pairs)
    assert np.abs(fitted.bias - true.bias).max() < 0.012  # metres
    np.testing.assert_allclose(fitted.jitter, true.jitter, rtol=0.12)
    assert np.abs(fitted.outlier_rate - true.outlier_rate).max() < 0.02
    assert fitted.outlier_scale == pytest.approx(true.outlier_scale, rel=0.1)
    assert fitted.low_conf_scale == pytest.approx(true.low_conf_scale, rel=0.1)
    assert fitted.rho == pytest.approx(true.rho, abs=0.06)
    assert fitted.rho_dt == pytest.approx(1 / 30)
    # The nose has no side (its side regressor is always 0); "outside" is rare in these views.
    sided = [k for k in range(NUM_KEYPOINTS) if k != KEYPOINT_INDEX["nose"]]
    assert np.abs(fitted.vis_coef[sided, :3] - true.vis_coef[sided, :3]).max() < 0.35
    # Swaps hidden in side views mix left and right visibilities: a little extra spread.
    np.testing.assert_allclose(fitted.vis_std, true.vis_std, rtol=0.25)
    assert fitted.vis_rho == pytest.approx(true.vis_rho, abs=0.08)
    assert fitted.body_swap_rate == pytest.approx(true.body_swap_rate, abs=0.01)
    for name, rate in true.group_swap_rate.items():
        assert fitted.group_swap_rate[name] == pytest.approx(rate, abs=0.012)
    assert fitted.frame_miss_rate == pytest.approx(true.frame_miss_rate, abs=0.015)
    # World landmarks: the bias is only identifiable up to what the hip centring and the
    # per-frame rotation absorb, so compare the noise-free landmarks both models predict.
    def mean_world(m: noise.NoiseModel) -> np.ndarray:
        m = dataclasses.replace(m, world_std=np.zeros_like(m.world_std), world_rot_std=0.0,
                                world_scale_std=0.0, body_swap_rate=0.0, frame_miss_rate=0.0,
                                group_swap_rate={})
        return m.apply(X, K, np.random.default_rng(0), image_size=size, body_height=height,
                       frames=frames).world.reshape(-1, NUM_KEYPOINTS, 3)

    a, b = mean_world(true), mean_world(fitted)
    scale, rot = noise._similarity(a, b)
    aligned = scale[:, None, None] * a @ np.swapaxes(rot, -1, -2)
    assert np.linalg.norm(aligned - b, axis=-1).mean() < 0.01
    np.testing.assert_allclose(fitted.world_std, true.world_std, rtol=0.15, atol=0.003)
    assert fitted.world_scale == pytest.approx(true.world_scale, rel=0.02)
    assert fitted.world_scale_exponent == pytest.approx(true.world_scale_exponent, abs=0.1)
    assert fitted.world_scale_std == pytest.approx(true.world_scale_std, abs=0.008)
    assert fitted.world_frame == "ray"
    assert fitted.world_rot_std == pytest.approx(true.world_rot_std, rel=0.15)
    assert fitted.world_rho == pytest.approx(true.world_rho, abs=0.08)


def test_fit_notices_a_wrong_model(rest_keypoints):
    """The recovery test above could pass with a fit that echoes its input; this one shows
    the fitted numbers move with the data."""
    X, K, size, height, frames = _scene(rest_keypoints, 60, 5, seed=2)
    small, big = noise.NoiseModel(), noise.NoiseModel()
    big.jitter = small.jitter * 3
    fits = []
    for m in (small, big):
        obs = m.apply(X, K, np.random.default_rng(3), image_size=size, body_height=height,
                      frames=frames)
        fits.append(noise.fit(noise.Pairs.from_observation(obs, X, K, size, height, frames)))
    ratio = fits[1].jitter / fits[0].jitter
    assert np.median(ratio) == pytest.approx(3.0, rel=0.1)


def test_model_json_round_trip(tmp_path):
    m = _true_model(np.random.default_rng(9))
    m.provenance = {"command": "test"}
    m.save(tmp_path / "m.json")
    back = noise.NoiseModel.load(tmp_path / "m.json")
    for f in dataclasses.fields(m):
        a, b = getattr(m, f.name), getattr(back, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(a, b, atol=1e-6)
        elif isinstance(a, float):
            assert a == pytest.approx(b, abs=1e-6)
        else:
            assert a == b


def test_committed_model_is_plausible():
    """The fitted MediaPipe model shipped with the code loads and says something sensible."""
    m = noise.NoiseModel.load()
    assert m.provenance.get("frames_detected", 0) >= 100
    assert ((m.jitter > 0.001) & (m.jitter < 0.1)).all()
    assert (np.linalg.norm(m.bias, axis=1) < 0.25).all()
    assert 0.0 <= m.frame_miss_rate < 0.5
    assert 0.5 < m.world_scale < 1.5
    assert m.world_frame in ("camera", "ray")


# --------------------------------------------------------------------------------------------
# Persistence: errors that hold for seconds (noise._ar1_mixed, noise_persistence)

FPS = 60.0
SLOW_3S = float(np.exp(-1 / (3.0 * FPS)))  # a slow part with a 3 s 1/e time, per 60 fps frame


def _series_frames(sequences: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(np.arange(sequences), frames), np.tile(np.arange(frames), sequences)


def test_mixed_noise_without_a_slow_share_is_the_plain_ar1():
    """A model fitted before persistence existed draws exactly what it drew before."""
    a = noise._ar1(np.random.default_rng(4), (3, 50, 25, 2), 0.8)
    b = noise._ar1_mixed(np.random.default_rng(4), (3, 50, 25, 2), 0.8, 0.99, 0.0)
    np.testing.assert_array_equal(a, b)


def test_mixed_noise_has_the_two_timescale_autocorrelation_and_the_fit_recovers_it():
    rng = np.random.default_rng(5)
    sequences, frames = 300, 120
    draws = {"half slow": (0.7, 0.5), "mostly fast": (0.9, 0.15)}
    acfs = {}
    for name, (fast, share) in draws.items():
        x = noise._ar1_mixed(rng, (sequences, frames, 4), fast, SLOW_3S, share)
        assert x.std() == pytest.approx(1.0, abs=0.05)  # the mixture keeps unit variance
        seq, frame = _series_frames(sequences, frames)
        acfs[name] = noise_persistence.autocorrelation(x.reshape(-1, 4), seq, frame)
        expected = noise_persistence.TwoTimescales(fast, SLOW_3S, share, 0.0).curve(
            np.asarray(noise_persistence.LAGS))
        np.testing.assert_allclose(acfs[name], expected, atol=0.05)
    fits = noise_persistence.fit_two_timescales(acfs, noise_persistence.LAGS, FPS)
    for name, (fast, share) in draws.items():
        assert fits[name].share == pytest.approx(share, abs=0.1)
        assert fits[name].fast == pytest.approx(fast, abs=0.05)
        assert fits[name].slow == fits["half slow"].slow  # one slow time for all
    slow_seconds = -1 / np.log(fits["half slow"].slow) / FPS
    assert 1.5 <= slow_seconds <= 10.0


def test_residual_series_measure_the_persistence_apply_draws(rest_keypoints):
    """Landmarks drawn with a slow share, measured back through the real-footage path (each
    frame's similarity to the truth, the height law), persist where plain AR(1) ones do not."""
    X, K, size, height, frames = _scene(rest_keypoints, 40, 60, seed=6)
    measured = {}
    for share in (0.0, 0.6):
        model = noise.NoiseModel(world_std=np.full((NUM_KEYPOINTS, 3), 0.03), world_rho=0.5,
                                 world_frame="ray", world_rot_std=4.0, world_scale_std=0.05,
                                 slow_rho=float(np.exp(-1 / 90)), world_slow_share=share,
                                 world_rot_slow_share=share)
        obs = model.apply(X, K, np.random.default_rng(7), image_size=size, body_height=height,
                          frames=frames, dt=1 / 30)
        pairs = noise.Pairs.from_observation(obs, X, K, size, height, frames, dt=1 / 30)
        series = noise_persistence.residual_series(pairs)
        frame = np.round(pairs.time * 30).astype(int)
        measured[share] = {name: noise_persistence.autocorrelation(
            series[name], pairs.sequence, frame, (15,))[0]
            for name in ("world", "world_rotation")}
    for name in ("world", "world_rotation"):
        assert measured[0.0][name] < 0.1  # 0.5 s at 0.5 per frame: gone
        assert measured[0.6][name] > 0.35  # about 0.6 * 0.85 held


def test_with_persistence_takes_the_world_time_structure_and_keeps_the_sizes():
    shipped = noise.NoiseModel.load()
    shipped.provenance["persistence"] = {"command": "an earlier fit",
                                         "replaced": {"world_rho": 0.5}}
    fits = {name: noise_persistence.TwoTimescales(fast=0.9, slow=0.999, share=share, rms=0.0)
            for name, share in (("2d", 0.5), ("world", 0.2), ("world_rotation", 0.4),
                                ("world_scale", 0.1))}
    out = noise_persistence.with_persistence(shipped, fits, 1 / 60, {"command": "test"})
    assert out.world_rho == pytest.approx(0.9 ** 2, rel=1e-4)  # per 1/60 s -> per 1/30 s
    assert out.slow_rho == pytest.approx(0.999 ** 2, rel=1e-4)
    assert (out.world_slow_share, out.world_rot_slow_share, out.world_scale_slow_share) == (
        0.2, 0.4, 0.1)
    assert (out.rho, out.slow_share) == (shipped.rho, shipped.slow_share)  # 2D not taken
    np.testing.assert_array_equal(out.world_std, shipped.world_std)
    assert out.world_rot_std == shipped.world_rot_std
    assert out.provenance["persistence"]["command"] == "test"
    assert shipped.provenance["persistence"]["command"] == "an earlier fit"  # input unchanged
    # The renders' own correlation stays on record through refits.
    assert out.provenance["persistence"]["replaced"] == {"world_rho": 0.5}
    fresh = noise_persistence.with_persistence(noise.NoiseModel(world_rho=0.3), fits, 1 / 60,
                                               {})
    assert fresh.provenance["persistence"]["replaced"] == {"world_rho": 0.3}


# --------------------------------------------------------------------------------------------
# Render set: parts, segments, and one real render + MediaPipe run


def test_vertex_parts_cover_the_body():
    from genhmr.body.default_body import load_default_asset
    from genhmr.synthetic.render_set import PART_NAMES, vertex_parts

    mesh, _ = load_default_asset()
    part, along = vertex_parts(mesh)
    counts = np.bincount(part, minlength=len(PART_NAMES))
    assert (counts > 50).all(), dict(zip(PART_NAMES, counts, strict=True))
    arm = part == PART_NAMES.index("arm")
    assert along[arm].min() > -0.1 and 0.4 < along[arm].max() < 0.7  # shoulder -> wrist
    foot = mesh.vertices[part == PART_NAMES.index("foot"), 1]
    assert foot.max() < mesh.vertices[:, 1].min() + 0.15


def test_segments_hold_out_whole_clips_and_extend_stably():
    from genhmr.synthetic.render_set import handmade_motion, plan_segments

    data = handmade_motion()
    small = plan_segments(data, 10, 4, seed=3)
    large = plan_segments(data, 30, 4, seed=3)
    assert small == large[:10]
    val = {s["clip"] for s in large if data.clip_split[s["clip"]] == "val"}
    train = {s["clip"] for s in large if data.clip_split[s["clip"]] == "train"}
    assert val and train and not val & train


def test_extend_job_keeps_the_frames_already_made():
    from genhmr.synthetic import render_set

    data = render_set.handmade_motion(frames=30)
    small = render_set.build_job(data, 8, 4, seed=5)
    other = render_set.build_job(data, 12, 4, seed=6)  # as if the samplers had changed
    grown = render_set.extend_job(small, other)
    for key in render_set.FRAME_KEYS:
        assert np.array_equal(grown[key][:8], small[key]), key
        assert np.array_equal(grown[key][8:], other[key][8:]), key


@pytest.mark.slow
def test_render_and_detect_end_to_end(tmp_path):
    """Three frames rendered by the bpy tool (its own process) at low resolution: MediaPipe
    finds the person, and its keypoints land near the known projections."""
    from genhmr.synthetic import render_set

    cfg = CameraConfig(image_sizes=((320, 400),), distance=(2.0, 4.0), min_person_px=300.0,
                       truncation_fraction=0.0, pitch_std=5.0, moving_fraction=0.0)
    data = render_set.handmade_motion(frames=30)
    data.clip_split[:] = "train"
    job = render_set.build_job(data, 3, 3, seed=11, cameras=cfg)
    job_path = tmp_path / "job.npz"
    np.savez(job_path, **job)
    images = tmp_path / "images"
    render_set.render(job_path, images, "workbench", 0, None, log=lambda m: None)
    assert all(render_set.image_path(images, i).is_file() for i in range(3))
    det = render_set.detect(job, images, tmp_path / "det.npz", log=lambda m: None,
                            degraded=False)
    assert det["detected"].all()
    pairs = render_set.make_pairs(job, det)
    err = np.linalg.norm(pairs.det_2d - job["keypoints_2d"], axis=-1)
    height_px = np.ptp(job["keypoints_2d"][..., 1], axis=1)
    assert (height_px > 200).all()
    assert (np.median(err, axis=1) < 0.10 * height_px).all(), np.median(err, axis=1)
    # Rerunning skips what is done.
    again = render_set.render(job_path, images, "workbench", 0, None, log=lambda m: None)
    assert again < 30


def test_landmarks_in_camera_axes_undoes_the_ray_frame(rest_keypoints):
    """MediaPipe's 3D landmarks look at the person along their viewing ray; turned back into
    camera axes they match the hip-centred keypoints, wherever the person is in the image."""
    from genhmr.camera import landmarks_in_camera_axes

    X, K, size, height, frames = _scene(rest_keypoints, 4, 6, seed=2)
    X = X + np.array([1.5, -0.5, 0.0])  # well off the optical axis: rays ~10-20 degrees off
    m = noise.NoiseModel()
    m.jitter = np.zeros((NUM_KEYPOINTS, 2))
    m.vis_coef = np.tile([10.0, 0.0, 0.0, 0.0], (NUM_KEYPOINTS, 1))  # all confident
    m.world_std = np.zeros((NUM_KEYPOINTS, 3))
    m.world_frame = "ray"
    obs = m.apply(X, K, np.random.default_rng(0), image_size=size, body_height=height,
                  frames=frames)
    hips = [KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]]
    centred = X - X[..., hips, :].mean(-2, keepdims=True)
    ok = obs.detected
    assert ok.sum() > 10
    assert np.abs(obs.world[ok] - centred[ok]).max() > 0.05  # the raw landmarks are turned
    back = landmarks_in_camera_axes(obs.world, obs.keypoints_2d, K, "ray")
    # (the ray goes through the hips' 2D midpoint, not the projected 3D midpoint: ~0.1 mm off)
    np.testing.assert_allclose(back[ok], centred[ok], atol=2e-3)
    # the tracker's form (confidence channel, 0 where missing) reads the same
    with_conf = np.concatenate([np.nan_to_num(obs.keypoints_2d),
                                np.isfinite(obs.keypoints_2d).all(-1, keepdims=True)], -1)
    np.testing.assert_allclose(landmarks_in_camera_axes(obs.world, with_conf, K, "ray")[ok],
                               back[ok])
    same = landmarks_in_camera_axes(obs.world, obs.keypoints_2d, K, "camera")
    assert same is obs.world
