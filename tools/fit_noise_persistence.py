"""Fit how long MediaPipe's errors persist on real footage, and write it into the noise model.

    $GENHMR_PYTHON tools/fit_noise_persistence.py --jobs out/bench [--write] \
        [--plot docs/images/noise_persistence.png]

``--jobs`` is a report's job folder (``benchmarks/report.py --jobs``): the product's tracks of
Pose2Sim ``Demo_MultiPerson``'s four views, each matched to the triangulated truth as the report
matches them. For every tracked person and trusted truth frame, the detector's 2D keypoints and
world landmarks (as the 3D stage reads them) are paired with the truth; the autocorrelation of
each error over lags of 1-60 frames (1 s at 60 fps) is measured and fitted with a fast and a
slow AR(1) (``genhmr.synthetic.noise_persistence``). The table compares the measurement with the
shipped noise model's curve and the fitted one. ``--write`` puts the world landmarks' fitted
time structure (not their sizes, which stay fitted on renders; not the 2D keypoints', whose
truth is triangulated from them: ``noise_persistence.with_persistence``) into
``backend/genhmr/synthetic/mediapipe_noise.json`` with this command in its provenance (the
shipped file does not carry it: a model trained on it did no better on real footage). Why, and
what it changed: docs/synthetic.md, "Persistence on real footage".
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "backend"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from genhmr import job_store  # noqa: E402
from genhmr.synthetic import noise as noise_model  # noqa: E402
from genhmr.synthetic import noise_persistence as persistence  # noqa: E402

from benchmarks.methods import mediapipe_bodies  # noqa: E402
from benchmarks.pose2sim_3d import VIEWS, match_people, view_truth  # noqa: E402
from benchmarks.scoring import BODY_POINTS  # noqa: E402
from genhmr_core.keypoints import KEYPOINT_INDEX  # noqa: E402
from genhmr_core.result_format import load_result  # noqa: E402

FPS = 60.0  # Pose2Sim Demo_MultiPerson
IMAGE_SIZE = (1088, 1920)
# Stature from the truth's landmarks: heel to ankle to knee to hip, hip-mid to shoulder-mid,
# shoulder-mid to eye-mid, plus eye to crown. The constant is the default body's at rest
# (measured with BodyModel.rest_keypoints against its mesh's height: 0.109 m).
EYE_TO_CROWN_M = 0.109


def _mid(points: np.ndarray, a: str, b: str) -> np.ndarray:
    return 0.5 * (points[..., KEYPOINT_INDEX[a], :] + points[..., KEYPOINT_INDEX[b], :])


def stature(keypoints: np.ndarray) -> float:
    """Median standing height (m) of one person's truth keypoints (F, 25, 3)."""
    def length(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - b, axis=-1)

    legs = []
    for side in ("left", "right"):
        p = {k: keypoints[:, KEYPOINT_INDEX[f"{side}_{k}"]] for k in ("heel", "ankle", "knee",
                                                                      "hip")}
        legs.append(length(p["heel"], p["ankle"]) + length(p["ankle"], p["knee"])
                    + length(p["knee"], p["hip"]))
    hips, shoulders = _mid(keypoints, "left_hip", "right_hip"), _mid(
        keypoints, "left_shoulder", "right_shoulder")
    eyes = _mid(keypoints, "left_eye", "right_eye")
    total = np.nanmean(legs, axis=0) + length(hips, shoulders) + length(shoulders, eyes)
    return float(np.nanmedian(total) + EYE_TO_CROWN_M)


def real_pairs(jobs: Path) -> tuple[noise_model.Pairs, np.ndarray]:
    """(truth, detection) pairs over every matched person and view, and each pair's frame."""
    rows: list[tuple] = []
    for v, name in enumerate(VIEWS):
        folder = jobs / f"pose2sim_{name}" / "generative"
        tracks = job_store.load_tracks(folder)
        K = load_result(folder / job_store.SOLVE_FILE).intrinsics()
        truth = view_truth(v, tracks.valid.shape[1])
        for p, who in match_people(mediapipe_bodies(tracks, K), truth).items():
            trusted = truth.trusted[:, who][:, list(BODY_POINTS)].all(-1)
            frames = np.flatnonzero(tracks.valid[p] & truth.known[:, who] & trusted
                                    & np.isfinite(truth.keypoints[:, who]).all((-1, -2)))
            height = stature(truth.keypoints[frames, who])
            rows += [(v * 10 + who, f, truth.keypoints[f, who], K[f], tracks.keypoints2d[p, f],
                      tracks.world_keypoints[p, f], height) for f in frames]
    if not rows:
        raise SystemExit(f"no matched person in {jobs}: run benchmarks/report.py --jobs first")
    kp2d = np.stack([r[4] for r in rows])
    pairs = noise_model.Pairs(
        known_cam=np.stack([r[2] for r in rows]), K=np.stack([r[3] for r in rows]),
        image_size=np.tile(IMAGE_SIZE, (len(rows), 1)).astype(np.float64),
        body_height=np.array([r[6] for r in rows]), detected=np.ones(len(rows), bool),
        det_2d=kp2d[..., :2], det_vis=kp2d[..., 2], det_world=np.stack([r[5] for r in rows]),
        sequence=np.array([r[0] for r in rows]), time=np.array([r[1] for r in rows]) / FPS)
    return pairs, np.array([r[1] for r in rows])


def plot(path: Path, acfs: dict[str, np.ndarray], fits: dict[str, persistence.TwoTimescales],
         old_rho: dict[str, float], rho_dt: float) -> None:
    """One panel per error: measured autocorrelation, the fitted curve, the render fit's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = np.asarray(persistence.LAGS, np.float64)
    dense = np.linspace(0, lags[-1], 200)
    fig, axes = plt.subplots(1, len(acfs), figsize=(3.2 * len(acfs), 3.0), sharey=True)
    for ax, (name, acf) in zip(axes, acfs.items(), strict=True):
        ax.plot(lags / FPS, acf, "o", color="black", label="measured (Pose2Sim)")
        ax.plot(dense / FPS, fits[name].curve(dense), color="tab:blue", label="two timescales")
        ax.plot(dense / FPS, (old_rho[name] ** (1 / (FPS * rho_dt))) ** dense,
                color="tab:red", linestyle="--", label="renders' AR(1)")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("lag (s)")
        ax.axhline(0, color="grey", linewidth=0.5)
    axes[0].set_ylabel("autocorrelation of the error")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, required=True)
    parser.add_argument("--plot", type=Path, default=None,
                        help="draw the measured, shipped and fitted curves into this PNG")
    parser.add_argument("--write", action="store_true",
                        help="write the fitted time structure into the shipped noise model")
    args = parser.parse_args(argv)

    pairs, frame = real_pairs(args.jobs)
    series = persistence.residual_series(pairs)
    lags = persistence.LAGS
    acfs = {name: persistence.autocorrelation(x, pairs.sequence, frame, lags)
            for name, x in series.items()}
    fits = persistence.fit_two_timescales(acfs, lags, FPS)
    shipped = noise_model.NoiseModel.load()
    step = 1.0 / FPS
    render_rho = shipped.provenance.get("persistence", {}).get("replaced", {}).get(
        "world_rho", shipped.world_rho)  # the renders' fit, before any persistence was taken
    old_rho = {"2d": shipped.rho, "world": render_rho, "world_rotation": render_rho,
               "world_scale": render_rho}
    print(f"{len(pairs)} (truth, detection) pairs in {len(np.unique(pairs.sequence))} "
          f"(view, person) sequences; lags in frames at {FPS:g} fps: {list(lags)}")
    for name, acf in acfs.items():
        fit = fits[name]
        before = (old_rho[name] ** (step / shipped.rho_dt)) ** np.asarray(lags, np.float64)
        print(f"\n{name}: fast {fit.fast:.3f}/frame, share {fit.share:.2f} slow "
              f"(1/e {-1 / np.log(fit.slow) / FPS:.1f} s), fit rms {fit.rms:.3f}")
        print("  measured    " + " ".join(f"{a:5.2f}" for a in acf))
        print("  fitted      " + " ".join(f"{a:5.2f}" for a in fit.curve(np.asarray(lags))))
        print("  renders'    " + " ".join(f"{a:5.2f}" for a in before))
    if args.plot is not None:
        plot(args.plot, acfs, fits, old_rho, shipped.rho_dt)
    if args.write:
        record = {
            "command": "tools/fit_noise_persistence.py --jobs <report jobs> --write",
            "date": datetime.date.today().isoformat(),
            "source": "Pose2Sim Demo_MultiPerson, 4 views, the product's tracks against "
                      "benchmarks/truth/pose2sim_multiperson_joints3d.npz",
            "pairs": len(pairs), "fps": FPS, "lags": list(lags),
            "taken": ["world", "world_rotation", "world_scale"],
            "fits": {name: {"fast": round(f.fast, 4), "slow": round(f.slow, 5),
                            "share": round(f.share, 3), "rms": round(f.rms, 4),
                            "measured": [round(float(a), 3) for a in acfs[name]]}
                     for name, f in fits.items()},
        }
        updated = persistence.with_persistence(shipped, fits, step, record)
        updated.save(noise_model.DEFAULT_PATH)
        print(f"\nwrote {noise_model.DEFAULT_PATH}: rho {updated.rho:.3f}, world_rho "
              f"{updated.world_rho:.3f}, slow_rho {updated.slow_rho:.4f} per "
              f"{updated.rho_dt:.4f} s; shares: world "
              f"{updated.world_slow_share:.2f}, rotation {updated.world_rot_slow_share:.2f}, "
              f"scale {updated.world_scale_slow_share:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
