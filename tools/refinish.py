"""Run the world-space steps again on finished jobs, to measure a change to them in seconds.

    python tools/refinish.py out/bench_report --into out/bench_nolock --set foot_locking=false
    $GENHMR_PYTHON benchmarks/report.py --jobs out/bench_nolock --no-world --synthetic 0 \\
        --out out/BENCH_nolock.md

Why: the world-space steps (depth smoothing, the floor, contacts, foot locking, the lift onto
the support) run after refinement on its ``solve.npz`` (``pipeline.finish``). A change to them,
or to their options, does not need detection, tracking, sampling or refinement again: this
tool finishes every job folder under a benchmark's ``--jobs`` folder (each folder holding
``job.json`` and ``solve.npz``) with the current code and ``--set`` option overrides, and
writes its ``result.npz``. ``benchmarks/report.py --jobs`` then reuses the jobs and scores the
new results (its "product" row; the others read ``solve.npz`` and the tracks, which do not
change). With ``--into`` the jobs are copied first (hard links: only the new ``result.npz``
files take space), so the original folder stays as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from genhmr import job_store
from genhmr.pipeline import JobOptions, finish, job_background_lines
from genhmr.rerun import job_options, load_job_result

from genhmr_core.result_format import save_result


def _value(field: dataclasses.Field, text: str) -> Any:
    """``text`` read as the type of a ``JobOptions`` field (booleans as true/false)."""
    if text.lower() in ("none", "null"):
        return None
    kind = str(field.type)
    if "bool" in kind:
        if text.lower() not in ("true", "false"):
            raise SystemExit(f"--set {field.name}: true or false, not {text!r}")
        return text.lower() == "true"
    if "int" in kind and "float" not in kind:
        return int(text)
    if "float" in kind:
        return float(text)
    return text


def overrides(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` pairs as ``JobOptions`` field values."""
    fields = {f.name: f for f in dataclasses.fields(JobOptions)}
    out = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in fields or not _:
            raise SystemExit(f"--set {pair!r}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(sorted(fields))}")
        out[name] = _value(fields[name], text)
    return out


def job_folders(root: Path) -> list[Path]:
    """Every folder under ``root`` that holds a finished job's solve."""
    return sorted(p.parent for p in root.rglob(job_store.SOLVE_FILE)
                  if (p.parent / job_store.JOB_FILE).is_file())


def jobs_parser(description: str, verb: str) -> argparse.ArgumentParser:
    """The command line both job tools share: a benchmark's ``--jobs`` folder and ``--into``;
    ``verb``: what the tool does to the copies ("finish", "solve")."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("jobs", type=Path, help="a benchmark's --jobs folder (or one job)")
    parser.add_argument("--into", type=Path, default=None,
                        help=f"copy the jobs here first (hard links) and {verb} the copies")
    return parser


def working_copy(root: Path, into: Path | None) -> Path:
    """``root`` itself, or with ``into`` a copy of it there (hard links: the jobs' files are
    replaced when written again, never written in place, so ``root`` stays as it was)."""
    if into is None:
        return root
    if into.exists():
        raise SystemExit(f"{into} exists; choose a new folder")
    shutil.copytree(root, into, copy_function=os.link)
    return into


def refinish(folder: Path, changes: dict[str, Any]) -> float:
    """Finish ``folder``'s solve again with ``changes`` to its options; the seconds it took."""
    options = dataclasses.replace(job_options(folder), **changes)
    solve = load_job_result(folder / job_store.SOLVE_FILE)
    t = time.perf_counter()
    result = finish(solve, options, job_background_lines(folder, solve))
    seconds = time.perf_counter() - t
    save_result(result, folder / job_store.RESULT_FILE)
    (folder / "refinished.json").write_text(json.dumps(
        {"changes": changes, "seconds": seconds}, indent=1))
    return seconds


def main() -> int:
    parser = jobs_parser(__doc__.split("\n\n")[0], "finish")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a job option for the finish, e.g. foot_locking=false")
    args = parser.parse_args()
    changes = overrides(args.set)
    root = working_copy(args.jobs, args.into)
    folders = [f for f in job_folders(root) if job_options(f).method == "generative"]
    if not folders:
        raise SystemExit(f"no generative job folders under {root}")
    for folder in folders:
        print(f"{folder}: finished again in {refinish(folder, changes):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
