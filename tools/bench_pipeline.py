"""Benchmark the backend job stage by stage on a clip (default: the sample demo.mp4).

    python tools/bench_pipeline.py [VIDEO] [--end N] [--tiling auto|on|off]
        [--method generative|fit] [--checkpoint PATH]

Prints per-stage seconds, throughput and ratios against a baseline measured in the same run:
plain decoding of the same frames (the floor any video pipeline pays). The real-time factor is
clip duration over processing time (1.0 = as fast as the footage plays). Results are recorded in
docs/performance.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2


def decode_only(video: str, start: int, end: int | None) -> tuple[int, float]:
    from genhmr.video import read_frames

    t = time.perf_counter()
    n = sum(1 for _ in read_frames(video, start, end))
    return n, time.perf_counter() - t


def main() -> int:
    media = Path(os.environ.get("GENHMR_MEDIA_DIR", Path.home() / ".cache/genhmr/media"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(media / "demo.mp4"))
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", type=int, default=None)
    parser.add_argument("--tiling", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", default=None, choices=["generative", "fit"],
                        help="3D body method (default: the product's default)")
    parser.add_argument("--checkpoint", default="", help="generative checkpoint (default: "
                        "the shipped one)")
    args = parser.parse_args()

    import torch
    from genhmr.pipeline import JobOptions, run_job

    frames, decode_s = decode_only(args.video, args.start, args.end)
    with tempfile.TemporaryDirectory() as out:
        method = {"method": args.method} if args.method else {}
        summary = run_job(JobOptions(video=args.video, out_dir=out, start=args.start,
                                     end=args.end, tiling=args.tiling, device=args.device,
                                     checkpoint=args.checkpoint, **method))
    fps = summary.result.fps
    person_frames = int(summary.result.valid.sum())
    st = summary.stage_seconds
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"opencv {cv2.__version__}, device {args.device}")
    print(f"clip: {Path(args.video).name}, {frames} frames at {fps:.1f} fps, tiling {args.tiling}, "
          f"method {summary.result.method}")
    print(f"people: {summary.num_people} tracks, {person_frames} person-frames")
    print(f"{'stage':<8}{'seconds':>9}{'ms/unit':>10}  unit")
    units = {"decode": frames, "detect": frames, "fit": max(person_frames, 1)}
    for stage, seconds in st.items():
        n = units.get(stage)
        per = f"{1000 * seconds / n:10.1f}" if n else f"{'':>10}"
        unit = "person-frame" if stage == "fit" else ("frame" if n else "")
        print(f"{stage:<8}{seconds:9.2f}{per}  {unit}")
    print(f"{'total':<8}{summary.elapsed_s:9.2f}{1000 * summary.elapsed_s / frames:10.1f}  frame")
    print(f"baseline (decode only, separate pass): {decode_s:.2f} s, "
          f"{frames / decode_s:.0f} frames/s")
    print(f"ratio total / decode-only baseline: {summary.elapsed_s / decode_s:.1f}x")
    print(f"ratio detect / decode-only baseline: {st.get('detect', 0) / decode_s:.1f}x")
    print(f"real-time factor: {frames / fps / summary.elapsed_s:.2f} "
          f"(clip {frames / fps:.1f} s, processing {summary.elapsed_s:.1f} s)")
    print(f"reprojection px per track: "
          f"{', '.join(f'{v:.1f}' for v in summary.reprojection_px)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
