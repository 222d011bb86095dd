"""genhmr_core.npz: what numpy.load reads back, and the fast level is really faster to write
and no larger than 5 % over numpy's own compressed file."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from genhmr_core.npz import save_npz


def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    # log-probabilities as stage1.npz stores them: float16, compressible but not trivially
    probs = rng.dirichlet(np.full(512, 0.05), size=(100, 32)) + 1e-30
    logp = np.log(probs).clip(-60).astype(np.float16)
    return {"log_probs": logp, "name": np.array("demo"), "spans": np.array([[0, 230]]),
            "valid": rng.random(100) > 0.1}


@pytest.mark.parametrize("level", [0, 1, 6])
def test_round_trip(level):
    buffer = io.BytesIO()
    save_npz(buffer, arrays(), compresslevel=level)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as back:
        assert sorted(back.files) == sorted(arrays())
        for name, value in arrays().items():
            np.testing.assert_array_equal(back[name], value)
            assert back[name].dtype == value.dtype


def test_fast_level_is_faster_and_about_as_small_as_numpys():
    data = arrays()
    ours, theirs = io.BytesIO(), io.BytesIO()
    t = time.process_time()
    for _ in range(3):
        ours.seek(0)
        ours.truncate()
        save_npz(ours, data)
    fast = time.process_time() - t
    t = time.process_time()
    for _ in range(3):
        theirs.seek(0)
        theirs.truncate()
        np.savez_compressed(theirs, **data)
    default = time.process_time() - t
    assert ours.tell() <= 1.05 * theirs.tell()
    assert ours.tell() < 0.9 * sum(a.nbytes for a in data.values())  # really compressed
    assert fast < default


def test_object_arrays_are_refused():
    with pytest.raises(ValueError):
        save_npz(io.BytesIO(), {"bad": np.array([{"a": 1}], dtype=object)})
