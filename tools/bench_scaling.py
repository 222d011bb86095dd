"""Time and memory of the 3D part of a job over the clip's length and the number of people.

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/bench_scaling.py [--jobs out/bench_scaling] \\
        [--sizes 100x1 1000x1 10000x1 100x3 1000x3 100x6 1000x6] [--chunk N]

Issue #12 asks for time and memory linear in frames and people (100 / 1,000 / 10,000 frames,
1 / 3 / 6 people). No clip here is that long or that crowded, so the tracks are made from real
ones: the product's own tracks of demo.mp4 (its job is run once into ``--jobs``), each person
played forward and back (so the motion stays continuous) for as many frames as asked, the
people cycling through demo.mp4's two and offset in time from each other. Each size then runs
in a fresh process through the product's steps after tracking (``pipeline.solve_tracks``:
stage 1, refinement, floor sizing, the world-space steps, the result file; the camera's turns
are off, as the video frames behind the made-up tracks do not move with them: their cost is
per frame and BENCHMARKS.md has it). Printed per size: CPU time and wall clock per
person-frame, and the process's peak memory above what it held with the models loaded, in
all and per 1,000 person-frames. Flat columns down the table are what linear means.
``--chunk N`` refines tracks in chunks of N frames instead of the product's
``generative.REFINE_CHUNK`` (a very large N: one piece, as before chunks).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "backend")]

DEMO = Path.home() / ".cache" / "genhmr" / "media" / "demo.mp4"
SIZES = ("100x1", "1000x1", "10000x1", "100x3", "1000x3", "100x6", "1000x6")
PERSON_OFFSET = 37  # frames between the made-up people's starts in their source track


def made_up_tracks(source: object, frames: int, people: int) -> object:
    """``people`` tracks of ``frames`` frames from the tracks of a real job (``source``):
    person i is source person i mod P, played forward and back from frame 37 i of its own
    track; the frame indices run forward and back over the source's frames the same way."""
    from genhmr.perception import Tracks

    out: dict[str, list[np.ndarray]] = {f.name: [] for f in dataclasses.fields(Tracks)}
    for i in range(people):
        p = i % source.num_people
        seen = np.flatnonzero(source.valid[p])
        span = np.arange(seen[0], seen[-1] + 1)
        there_and_back = np.concatenate([span, span[::-1]])
        rows = np.roll(np.resize(there_and_back, frames + len(there_and_back)),
                       -(PERSON_OFFSET * i) % len(there_and_back))[:frames]
        for name in ("valid", "keypoints2d", "world_keypoints", "boxes", "landmarks2d",
                     "world_landmarks"):
            out[name].append(getattr(source, name)[p][rows])
        if i == 0:
            out["frame_indices"] = [source.frame_indices[rows]]
    return Tracks(frame_indices=out["frame_indices"][0],
                  **{k: np.stack(v) for k, v in out.items() if k != "frame_indices"})


def run_one(jobs: Path, frames: int, people: int, chunk: int | None) -> dict:
    """One size in this process: the 3D part of a job on made-up tracks, measured."""
    from genhmr import generative, job_store
    from genhmr.pipeline import JobOptions, Models, solve_tracks
    from genhmr.video import probe

    if chunk is not None:
        generative.REFINE_CHUNK = chunk
    source = job_store.load_tracks(jobs / "demo")
    tracks = made_up_tracks(source, frames, people)
    with tempfile.TemporaryDirectory() as out:
        options = JobOptions(video=str(DEMO), out_dir=out, camera_motion=False)
        models = Models().get(options)
        job_store.save_tracks(Path(out), tracks)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall, cpu = time.perf_counter(), time.process_time()
        solve_tracks(options, probe(str(DEMO)), tracks, models)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    person_frames = int(tracks.valid.sum())
    return {"frames": frames, "people": people, "person_frames": person_frames,
            "cpu_ms": 1000 * cpu / person_frames, "wall_ms": 1000 * wall / person_frames,
            "memory_mb": (peak - before) / 1024, "loaded_mb": before / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=Path, default=ROOT / "out" / "bench_scaling")
    parser.add_argument("--sizes", nargs="*", default=list(SIZES), metavar="FRAMESxPEOPLE")
    parser.add_argument("--chunk", type=int, default=None,
                        help="refine in chunks of this many frames (default: the product's)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a child's size
    args = parser.parse_args()
    if args.one is not None:
        frames, people = (int(v) for v in args.one.split("x"))
        print(json.dumps(run_one(args.jobs, frames, people, args.chunk)))
        return

    from benchmarks.methods import run_cached

    run_cached(DEMO, args.jobs / "demo")  # the real tracks the made-up ones come from
    print("| frames | people | person-frames | CPU ms per person-frame | wall ms per "
          "person-frame | peak memory MB (per 1,000 person-frames) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        command = [sys.executable, __file__, "--jobs", str(args.jobs), "--one", size]
        if args.chunk is not None:
            command += ["--chunk", str(args.chunk)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"| {size} | failed: {done.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {row['frames']} | {row['people']} | {row['person_frames']} | "
              f"{row['cpu_ms']:.1f} | {row['wall_ms']:.1f} | {row['memory_mb']:.0f} "
              f"({1000 * row['memory_mb'] / row['person_frames']:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
