"""Run the 3D part of finished jobs again from their tracks, to measure a change to it.

    python tools/resolve.py out/bench_report --into out/bench_new
    $GENHMR_PYTHON benchmarks/report.py --jobs out/bench_new

Why: a change to stage 1, refinement, the sizing of people on the floor or the world-space
steps does not need detection and tracking again. This tool runs ``pipeline.solve_tracks`` (the
product's own steps after tracking: the camera's turns, each person's solve, sizing on the
floor, the finish) on every job folder under a benchmark's ``--jobs`` folder, from the tracks
the job kept, with the current code, and writes its ``stage1.npz``, ``solve.npz`` and
``result.npz``. ``benchmarks/report.py --jobs`` then scores the new results; the timings it
prints stay those of the original runs. With ``--into`` the jobs are copied first (hard links;
every file is replaced, never written in place), so the original folder stays as it was. For
changes to the world-space steps alone, ``tools/refinish.py`` is faster.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from genhmr import job_store
from genhmr.pipeline import Models, solve_tracks
from genhmr.rerun import job_options
from genhmr.video import probe
from refinish import job_folders, jobs_parser, working_copy


def resolve(folder: Path, models: Models) -> float:
    """Solve ``folder``'s tracks again; the seconds it took."""
    options = dataclasses.replace(job_options(folder), out_dir=str(folder))
    if not Path(options.video).is_file():
        raise SystemExit(f"{folder}: its video {options.video} is gone; analyse it again")
    tracks = job_store.load_tracks(folder)
    t = time.perf_counter()
    solve_tracks(options, probe(options.video), tracks, models.get(options), "cpu")
    seconds = time.perf_counter() - t
    (folder / "resolved.json").write_text(json.dumps({"seconds": seconds}, indent=1))
    return seconds


def main() -> int:
    args = jobs_parser(__doc__.split("\n\n")[0], "solve").parse_args()
    root = working_copy(args.jobs, args.into)
    folders = [f for f in job_folders(root) if (f / job_store.TRACKS_FILE).is_file()]
    if not folders:
        raise SystemExit(f"no job folders with tracks under {root}")
    models = Models()
    for folder in folders:
        print(f"{folder}: solved again in {resolve(folder, models):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
