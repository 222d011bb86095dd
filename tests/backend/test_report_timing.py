"""The benchmark report's CPU target (``benchmarks/report.py``): a job's time includes decoding
its video, so it is judged against MediaPipe's ``process`` plus its own decoding of the same
frames; the ratio against ``process`` alone is still shown."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks.report import cpu_ratios, timing_table


def _timing(generative_cpu: float, decode_cpu: float | None) -> dict:
    timing = {"clip": "a clip", "frames": 100, "person_frames": 200, "mediapipe_ms": 20.0,
              "mediapipe_cpu_ms": 24.0, "perception": 4.0, "fit": 7.0, "generative": 12.0,
              "fit_cpu": 10.0, "generative_cpu": generative_cpu}
    if decode_cpu is not None:
        timing |= {"mediapipe_decode_ms": 3.0, "mediapipe_decode_cpu_ms": decode_cpu}
    return timing


def test_the_like_for_like_ratio_adds_mediapipes_decoding():
    # 15.6 s over 200 person-frames is 78 ms: 3.25x of 24 ms, 2.6x of 24 + 6 ms
    alone, with_decoding = cpu_ratios(_timing(15.6, 6.0))
    assert math.isclose(alone, 3.25) and math.isclose(with_decoding, 2.6)


def test_a_baseline_measured_without_its_decoding_gives_no_like_for_like_ratio():
    alone, with_decoding = cpu_ratios(_timing(15.6, None))
    assert math.isclose(alone, 3.25) and math.isnan(with_decoding)
    row = timing_table([_timing(15.6, None)])[-1]
    assert row.endswith("| — |")  # nothing made up for the missing column


def test_the_time_table_shows_both_ratios():
    row = timing_table([_timing(15.6, 6.0)])[-1]
    assert "78 ms (3.2x)" in row and "78 ms (2.6x)" in row and "3.0 / 6.0" in row


def test_the_baseline_times_mediapipes_decoding_apart_from_its_process(media_dir: Path):
    """MediaPipe's legacy Pose on six real frames of demo.mp4: ``process`` and the decoding
    before it are timed separately, both for real (a baseline that lost its decoding would
    make the like-for-like ratio silently the old one)."""
    from bench_tracking import mediapipe_baseline  # tools/, on the path through the report

    baseline = mediapipe_baseline(media_dir / "demo.mp4", np.arange(6))
    assert baseline["frames"] == 6
    assert baseline["cpu_ms_per_frame"] > 0 and baseline["ms_per_frame"] > 0
    assert baseline["decode_cpu_ms_per_frame"] > 0 and baseline["decode_ms_per_frame"] > 0
