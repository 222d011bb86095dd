"""Every tracking-truth file in benchmarks/truth/ follows the shared schema.

Why: the benchmark trusts these files blindly; a box outside the image, an id that is not in
``people`` or a frame that is not listed would silently skew MOTA/IDF1. The schema is described
in benchmarks/truth/README.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

TRUTH_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "truth"
FILES = sorted(TRUTH_DIR.glob("*.json"))
KEYS = {"format", "clip", "image_size", "fps", "frames", "people", "boxes", "how"}


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _check_box(box: object, width: int, height: int, where: str) -> None:
    assert isinstance(box, list) and len(box) == 4, f"{where}: box must be [x0, y0, x1, y1]"
    assert all(_is_number(v) for v in box), f"{where}: box values must be finite numbers"
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= width, f"{where}: x range {x0}..{x1} not inside 0..{width}"
    assert 0 <= y0 < y1 <= height, f"{where}: y range {y0}..{y1} not inside 0..{height}"


def test_truth_folder_has_files() -> None:
    assert FILES, f"no truth files in {TRUTH_DIR}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_truth_file_schema(path: Path) -> None:
    truth = json.loads(path.read_text())
    assert set(truth) >= KEYS, f"missing keys: {sorted(KEYS - set(truth))}"
    assert set(truth) <= KEYS | {"ignore"}, f"unknown keys: {sorted(set(truth) - KEYS)}"
    assert truth["format"] == "genhmr-mot-truth/1"
    assert isinstance(truth["clip"], str) and truth["clip"]
    assert isinstance(truth["how"], str) and truth["how"].strip()
    width, height = truth["image_size"]
    assert isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0
    assert _is_number(truth["fps"]) and truth["fps"] > 0

    frames = truth["frames"]
    assert frames and all(isinstance(f, int) and f >= 0 for f in frames)
    assert frames == sorted(set(frames)), "frames must be sorted and unique"
    frame_set = set(frames)

    ids = [p["id"] for p in truth["people"]]
    assert ids and all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids))
    assert all(isinstance(p.get("description"), str) and p["description"]
               for p in truth["people"])

    seen: set[tuple[int, int]] = set()
    for n, b in enumerate(truth["boxes"]):
        where = f"{path.name} boxes[{n}]"
        assert set(b) == {"frame", "id", "box", "visible"}, f"{where}: keys {sorted(b)}"
        assert b["frame"] in frame_set, f"{where}: frame {b['frame']} not in frames"
        assert b["id"] in ids, f"{where}: id {b['id']} not in people"
        assert (b["frame"], b["id"]) not in seen, f"{where}: two boxes for one person"
        seen.add((b["frame"], b["id"]))
        _check_box(b["box"], width, height, where)
        assert _is_number(b["visible"]) and 0.0 <= b["visible"] <= 1.0, f"{where}: visible"

    for n, ig in enumerate(truth.get("ignore", [])):
        where = f"{path.name} ignore[{n}]"
        assert set(ig) == {"frame", "box"}, f"{where}: keys {sorted(ig)}"
        assert ig["frame"] in frame_set, f"{where}: frame {ig['frame']} not in frames"
        _check_box(ig["box"], width, height, where)


def test_pose2sim_views_share_people_and_joints_file() -> None:
    views = sorted(TRUTH_DIR.glob("pose2sim_multiperson_cam0*.json"))
    if not views:
        pytest.skip("no pose2sim truth files")
    people = [json.loads(p.read_text())["people"] for p in views]
    assert all(p == people[0] for p in people), "the 4 views must share one list of people"
    with np.load(TRUTH_DIR / "pose2sim_multiperson_joints3d.npz", allow_pickle=False) as z:
        joints = z["joints3d"]
        assert joints.dtype == np.float32 and joints.shape[1:] == (len(people[0]), 33, 3)
        assert z["offsets"].shape == (len(views),) and z["K"].shape == (len(views), 3, 3)
