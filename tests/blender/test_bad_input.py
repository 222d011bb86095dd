"""Bad result files give a clear error and leave the scene exactly as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from synthetic_result import write_result


def test_bad_results_leave_scene_untouched(driver, tmp_path: Path) -> None:
    good = write_result(tmp_path / "good.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    data = dict(np.load(good, allow_pickle=False))
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**data, "format_version": np.array(99)})
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{**data, "transl": np.zeros((2, 3))})
    missing = tmp_path / "does_not_exist.npz"
    damaged = tmp_path / "damaged.npz"  # right layout, flipped bytes inside a member
    raw = bytearray(good.read_bytes())
    third = len(raw) // 3
    raw[third:third + 200] = bytes(b ^ 0xFF for b in raw[third:third + 200])
    damaged.write_bytes(bytes(raw))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    text = tmp_path / "text.npz"
    text.write_text("frame,x,y\n1,2,3\n")
    extra = tmp_path / "extra.npz"  # a valid result plus an unknown pickled array
    np.savez(extra, **data, notes=np.array([{"run": "this"}], dtype=object))

    cases = {"corrupt": corrupt, "garbage": garbage, "foreign": foreign, "newer": newer,
             "broken_shape": broken, "missing": missing, "damaged": damaged, "empty": empty,
             "text": text, "extra_pickled": extra}
    r = driver("bad_input", good, *(f"{k}={v}" for k, v in cases.items()))
    expected = {"corrupt": "is damaged", "garbage": "not an .npz archive",
                "foreign": "not a GenHMR result", "newer": "format version 99",
                "broken_shape": "transl", "missing": "not found",
                "damaged": "is damaged", "empty": "is empty (0 bytes)",
                "text": "not an .npz archive", "extra_pickled": "pickled Python objects"}
    for name, fragment in expected.items():
        case = r[name]
        assert case["raised"], (name, case)
        assert fragment in case["message"], (name, case["message"])
        assert case["unchanged"], (name, case)
        # what is wrong with the file in one sentence, not an internal error
        assert "import failed" not in case["message"], (name, case["message"])  # the bug path
        assert "allow_pickle" not in case["message"] and "No data left" not in case["message"]
    assert "Update the add-on" in r["newer"]["message"]

    mid = r["midway_failure"]
    assert mid["calls"] == 2 and mid["raised"] and "injected failure" in mid["message"]
    assert mid["unchanged"], mid
    assert r["good_after"] == 2
