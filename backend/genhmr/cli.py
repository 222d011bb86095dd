"""Command line: ``python -m genhmr {run, refine, merge, split, drop, resample, accept,
revisions, serve, contact-sheet, build-task, version}``.

``run`` analyses a video with a progress bar per stage and writes ``<out>/result.npz``;
``refine`` re-runs refinement on a frame range of one person of such a job and rewrites that
result; ``merge`` / ``split`` / ``drop`` fix people in such a job (a merged track is solved
again), each recorded as a new revision of the job folder (``--revision`` starts from an
earlier one, as undo in Blender does); ``revisions`` lists the folder's kept revisions or
brings its files to one; ``resample`` keeps K alternatives for a frame range of one person
beside the job and ``accept`` makes one of them the job's motion (a new revision); ``serve`` is
what the Blender add-on starts. Exit
status: 0 ok, 2 bad input (clear message on stderr), 3 internal error, 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genhmr import __version__
from genhmr_core.protocol import DEFAULT_KEYPOINT_CONFIDENCE, START_DEFAULTS

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_CANCELLED = 130


def _frame_range(text: str) -> tuple[int, int]:
    """``A:B`` (video frames, both included) as two numbers; argparse says what is wrong."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be A:B (two frame numbers), got {text!r}") from None
    return a, b


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genhmr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="analyse a video into a result file")
    run.add_argument("video", type=Path)
    run.add_argument("--out", type=Path, required=True, help="output folder (result.npz)")
    run.add_argument("--start", type=int, default=START_DEFAULTS["start"],
                     help="first frame, 0-based")
    run.add_argument("--end", type=int, default=None, help="frame after the last one")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    run.add_argument("--method", default=START_DEFAULTS["method"], choices=["fit", "generative"],
                     help="fit: the optimisation baseline; generative: token sampling + "
                     "2D-guided refinement (needs a checkpoint)")
    run.add_argument("--refine-steps", type=int, default=START_DEFAULTS["refine_steps"],
                     metavar="N", help="generative refinement steps (0 = sampling only)")
    run.add_argument("--checkpoint", default="",
                     help="generative checkpoint (default: the shipped one)")
    run.add_argument("--smplx-dir", default="",
                     help="folder with SMPLX_NEUTRAL.npz (default: the license-free body)")
    run.add_argument("--gender", default="neutral", choices=["neutral", "male", "female"],
                     help="which SMPL-X model file to use with --smplx-dir")
    run.add_argument("--no-shape", action="store_true",
                     help="keep the average body shape (no per-person shape estimate)")
    run.add_argument("--focal-px", type=float, default=None)
    run.add_argument("--person-height", type=float, default=None, metavar="METRES",
                     help="the main person's standing height; the others are scaled with them "
                          "(default: from their bone lengths and the floor)")
    run.add_argument("--tiling", default="auto", choices=["auto", "on", "off"])
    run.add_argument("--max-people", type=int, default=START_DEFAULTS["max_people"])
    run.add_argument("--contact-sheet", type=Path, default=None,
                     help="also write a contact sheet PNG here")
    run.add_argument("--summary-json", type=Path, default=None,
                     help="write timings and counts as JSON here")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--verbose", action="store_true",
                     help="let native libraries log to the terminal (default: <out>/native.log)")

    again = sub.add_parser("refine", help="re-run refinement on a frame range of one person "
                           "of a finished job (rewrites its result.npz)")
    again.add_argument("job", type=Path, help="the job folder (run's --out)")
    again.add_argument("--person", type=int, required=True, help="the person's track id")
    again.add_argument("--frames", required=True, metavar="A:B", type=_frame_range,
                       help="video frames A to B, both included")
    again.add_argument("--steps", type=int, default=None, help="refinement steps")
    again.add_argument("--smoothing", type=float, default=None,
                       help="temporal smoothness relative to the analysis's (2 = twice)")
    again.add_argument("--min-confidence", type=float, default=None,
                       help="ignore keypoints below this detector confidence (default "
                       f"{DEFAULT_KEYPOINT_CONFIDENCE})")
    again.add_argument("--keep", nargs="+", default=[], metavar="JOINT",
                       help="body joints kept as they are, e.g. left_elbow")
    again.add_argument("--blend", type=int, default=3, metavar="N",
                       help="frames at each end that fade from the old motion")

    merge = sub.add_parser("merge", help="merge two people of a finished job who are one "
                           "person, and solve the joined track again")
    merge.add_argument("job", type=Path)
    merge.add_argument("--keep", type=int, required=True, help="track id that stays")
    merge.add_argument("--other", type=int, required=True, help="track id merged into it")
    split = sub.add_parser("split", help="split a person of a finished job at a video frame")
    split.add_argument("job", type=Path)
    split.add_argument("--person", type=int, required=True)
    split.add_argument("--frame", type=int, required=True,
                       help="first video frame of the new person")
    split.add_argument("--new-person", type=int, default=None,
                       help="the new person's track id (default: the job's next free one)")
    drop = sub.add_parser("drop", help="remove a person (a ghost) from a finished job")
    drop.add_argument("job", type=Path)
    drop.add_argument("--person", type=int, required=True)
    for edit in (again, merge, split, drop):
        edit.add_argument("--revision", type=int, default=None, metavar="N",
                          help="start from the job folder's revision N (default: its current "
                          "one), as after an undo in Blender; the revisions after N stay "
                          "(list them with 'genhmr revisions JOB')")
    _add_revisions_parser(sub)
    _add_alternatives_parsers(sub)

    sub.add_parser("serve", help="JSON-lines server for the Blender add-on (stdin/stdout)")

    sheet = sub.add_parser("contact-sheet", help="draw a result over its video frames")
    sheet.add_argument("result", type=Path)
    sheet.add_argument("--out", type=Path, required=True, help="PNG to write")
    sheet.add_argument("--video", type=Path, default=None, help="default: the result's video")
    sheet.add_argument("--frames", type=int, default=6)
    sheet.add_argument("--blender-joints", type=Path, default=None,
                       help=".npy (P, F, J, 2) of Blender rig joints in pixels, drawn as rings")
    sheet.add_argument("--body-renders", type=Path, default=None,
                       help="folder of Blender renders frame_<n>.png (RGBA) laid over the frames")
    sheet.add_argument("--no-skeleton", action="store_true",
                       help="draw no skeleton or keypoints (bodies and labels only)")

    task = sub.add_parser("build-task", help="build the multi-person MediaPipe pose bundle")
    task.add_argument("--out", type=Path, default=None)

    sub.add_parser("version", help="print the backend version")
    return parser


class _Bars:
    """One tqdm bar per pipeline stage, on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.stage = ""

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if p.stage != self.stage:
            self.close()
            self.stage = p.stage
            self.bar = tqdm(total=p.total, desc=f"{p.stage:>6}", unit="frame"
                            if p.stage == "detect" else "step", file=sys.stderr,
                            dynamic_ncols=True)
        if self.bar is not None:
            if self.bar.total != p.total:
                self.bar.total = p.total
            self.bar.set_postfix_str(p.message, refresh=False)
            self.bar.update(p.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _divert_native_stderr(log_path: Path) -> None:
    """Send what native libraries print on file descriptor 2 (MediaPipe/TFLite start-up chatter)
    to ``log_path``, keeping Python's ``sys.stderr`` (progress bars, errors) on the terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding="utf-8", errors="replace")


def _run(args: argparse.Namespace) -> int:
    from .pipeline import JobCancelled, JobError, JobOptions, run_job

    if not args.verbose:
        _divert_native_stderr(args.out / "native.log")

    options = JobOptions(video=str(args.video), out_dir=str(args.out), start=args.start,
                         end=args.end, device=args.device, method=args.method,
                         checkpoint=args.checkpoint, refine_steps=args.refine_steps,
                         smplx_dir=args.smplx_dir, smplx_gender=args.gender,
                         estimate_shape=not args.no_shape, focal_px=args.focal_px,
                         person_height_m=args.person_height,
                         tiling=args.tiling, max_people=args.max_people)
    bars = _Bars(not args.quiet)
    try:
        summary = run_job(options, progress=bars)
    except JobError as exc:
        bars.close()
        print(f"genhmr: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, JobCancelled):
        bars.close()
        print("genhmr: cancelled; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    bars.close()
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in summary.stage_seconds.items())
    print(f"genhmr: {summary.num_people} people over {summary.num_frames} frames in "
          f"{summary.elapsed_s:.1f} s ({stages})", file=sys.stderr)
    if args.summary_json:
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(json.dumps({
            "result_path": str(summary.result_path), "num_people": summary.num_people,
            "num_frames": summary.num_frames, "elapsed_s": summary.elapsed_s,
            "stage_seconds": summary.stage_seconds,
            "reprojection_px": summary.reprojection_px}, indent=2))
    if args.contact_sheet:
        from .contact_sheet import write_contact_sheet

        write_contact_sheet(args.contact_sheet, summary.result)
        print(f"genhmr: contact sheet {args.contact_sheet}", file=sys.stderr)
    print(summary.result_path)
    return 0


def _refine(args: argparse.Namespace) -> int:
    from .rerun import RefineOptions, refine_range

    a, b = args.frames
    options = RefineOptions(job_dir=str(args.job), person=args.person, frame_start=a,
                            frame_end=b, steps=args.steps, smoothing=args.smoothing,
                            min_confidence=args.min_confidence, keep_joints=tuple(args.keep),
                            blend_frames=args.blend, revision=args.revision)
    summary, status = _edit_folder(lambda: refine_range(options))
    if summary is None:
        return status
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in summary.stage_seconds.items())
    print(f"genhmr: person {summary.person}, frames {summary.frame_start}-{summary.frame_end} "
          f"re-refined in {summary.elapsed_s:.1f} s ({stages}); reprojection "
          f"{summary.reprojection_px:.1f} px; job folder revision {summary.revision}",
          file=sys.stderr)
    print(summary.result_path)
    return 0


def _edit_folder(edit: Callable[[], Any]) -> tuple[Any, int]:
    """Run an edit of a finished job's folder: (its summary, 0), or (None, exit status) after
    saying why on stderr (the folder is unchanged then)."""
    from .pipeline import JobCancelled, JobError

    try:
        return edit(), 0
    except JobError as exc:
        print(f"genhmr: error: {exc}", file=sys.stderr)
        return None, EXIT_BAD_INPUT
    except (KeyboardInterrupt, JobCancelled):
        print("genhmr: cancelled; the job folder is unchanged", file=sys.stderr)
        return None, EXIT_CANCELLED


def _edit_people(args: argparse.Namespace) -> int:
    from . import people_edits

    at = args.revision
    edits = {"merge": lambda: people_edits.merge_people(args.job, args.keep, args.other,
                                                        revision=at),
             "split": lambda: people_edits.split_person(args.job, args.person, args.frame,
                                                        args.new_person, revision=at),
             "drop": lambda: people_edits.drop_person(args.job, args.person, revision=at)}
    summary, status = _edit_folder(edits[args.command])
    if summary is None:
        return status
    print(f"genhmr: {args.command} done in {summary.elapsed_s:.1f} s; people now "
          f"{', '.join(map(str, summary.people))}; job folder revision {summary.revision}",
          file=sys.stderr)
    print(summary.result_path)
    return 0


# -- alternatives: sample K other readings of a frame range, accept one -------------------------
def _add_alternatives_parsers(sub: Any) -> None:
    from genhmr_core.alternatives import MAX_ALTERNATIVES
    from genhmr_core.protocol import RESAMPLE_DEFAULTS

    resample = sub.add_parser("resample", help="sample alternatives for a frame range of one "
                              "person of a finished job (kept in its alternatives/ folder; the "
                              "job is not changed)")
    resample.add_argument("job", type=Path, help="the job folder (run's --out)")
    resample.add_argument("--person", type=int, required=True, help="the person's track id")
    resample.add_argument("--frames", required=True, metavar="A:B", type=_frame_range,
                          help="video frames A to B, both included")
    resample.add_argument("--count", type=int, default=RESAMPLE_DEFAULTS["count"],
                          help=f"alternatives to keep (1-{MAX_ALTERNATIVES})")
    resample.add_argument("--temperature", type=float, default=RESAMPLE_DEFAULTS["temperature"],
                          help="sampling temperature: higher gives wilder readings")
    resample.add_argument("--seed", type=int, default=0, help="the same seed, the same set")
    resample.add_argument("--steps", type=int, default=None, help="refinement steps each")
    resample.add_argument("--blend", type=int, default=3, metavar="N",
                          help="frames at each end that fade from the old motion")
    accept = sub.add_parser("accept", help="make one of a job's alternatives its motion (a new "
                            "revision of the job folder)")
    accept.add_argument("job", type=Path)
    accept.add_argument("--alternative", type=int, required=True, metavar="K",
                        help="which one, as resample numbered them (1 = the first)")
    accept.add_argument("--set", default=None, metavar="ID", dest="set_id",
                        help="which set, as resample named it (default: the newest)")
    for command in (resample, accept):
        command.add_argument("--revision", type=int, default=None, metavar="N",
                             help="the job folder's revision (default: its current one)")


def _alternatives(args: argparse.Namespace) -> int:
    from .alternatives import ResampleOptions, accept_alternative, resample_range

    if args.command == "accept":
        summary, status = _edit_folder(
            lambda: accept_alternative(args.job, args.alternative, args.set_id,
                                       revision=args.revision))
        if summary is None:
            return status
        print(f"genhmr: alternative {args.alternative} accepted for person {summary.person}, "
              f"frames {summary.frame_start}-{summary.frame_end}; job folder revision "
              f"{summary.revision}", file=sys.stderr)
        print(summary.result_path)
        return 0
    a, b = args.frames
    options = ResampleOptions(job_dir=str(args.job), person=args.person, frame_start=a,
                              frame_end=b, count=args.count, temperature=args.temperature,
                              seed=args.seed, steps=args.steps, blend_frames=args.blend,
                              revision=args.revision)
    summary, status = _edit_folder(lambda: resample_range(options))
    if summary is None:
        return status
    print(f"genhmr: set {summary.set_id}: {summary.info.count} alternatives for person "
          f"{summary.info.person}, frames {summary.frame_start}-{summary.frame_end}, in "
          f"{summary.elapsed_s:.1f} s (sampled from revision {summary.info.base_revision}):",
          file=sys.stderr)
    for k, (path, c) in enumerate(zip(summary.result_paths, summary.info.candidates,
                                      strict=True), start=1):
        print(f"genhmr:   {k}: {c.distance_mm:.0f} mm from the motion (up to "
              f"{c.largest_mm:.0f} mm), reprojection {c.reprojection_px:.1f} px", file=sys.stderr)
        print(path)
    return 0


# -- revisions: list a job folder's kept revisions, or bring its files to one -------------------
def _add_revisions_parser(sub: Any) -> None:
    revisions = sub.add_parser("revisions", help="list the revisions a job folder keeps (each "
                               "edit's outcome), or bring its files to one")
    revisions.add_argument("job", type=Path, help="the job folder (run's --out)")
    revisions.add_argument("--restore", type=int, default=None, metavar="N",
                           help="bring the folder's files (result.npz, ...) to revision N; an "
                           "edit without --revision then starts there; nothing is dropped")


def _revisions(args: argparse.Namespace) -> int:
    """List the job folder's revisions (stdout), after bringing its files to ``--restore``'s
    one when given; a missing folder or revision is one sentence on stderr."""
    from genhmr_core import job_revisions

    from . import job_store
    from .errors import JobError

    try:
        if args.restore is not None:
            job_store.restore(args.job, args.restore)
        else:
            job_store.load_options(args.job)
        infos, added = job_revisions.describe(args.job)
    except (JobError, job_revisions.RevisionError) as exc:
        print(f"genhmr: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.restore is not None:
        print(f"genhmr: the files of {args.job} are revision {args.restore} now",
              file=sys.stderr)
    print(_revision_table(infos, added))
    return 0


def _revision_table(infos: list[Any], added: int) -> str:
    """One line per kept revision: current (*), id, the revision it was made from, what
    dropping it frees, what made it; then what revisions/ adds to the folder in all."""
    from genhmr_core.job_revisions import MAX_EDITS, MAX_REVISION_BYTES

    def mb(n: int) -> str:
        return f"{n / 1e6:.1f} MB"

    rows = [f"  {'revision':>8}  {'from':>4}  {'size':>9}  made by"]
    rows += [f"{'*' if i.current else ' '} {i.revision:>8}  "
             f"{'-' if i.parent is None else i.parent:>4}  {mb(i.own_bytes):>9}  {i.edit}"
             for i in infos]
    rows.append(f"* the folder's files; size: what dropping the revision frees. revisions/ adds "
                f"{mb(added)} to the folder (it keeps revision 0 and the last {MAX_EDITS} "
                f"edits within {MAX_REVISION_BYTES / 1e9:g} GB)")
    return "\n".join(rows)


def _contact_sheet(args: argparse.Namespace) -> int:
    import numpy as np

    from genhmr_core.result_format import ResultFormatError, load_result

    from .contact_sheet import write_contact_sheet

    try:
        result = load_result(args.result)
    except (OSError, ResultFormatError) as exc:
        print(f"genhmr: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    joints = np.load(args.blender_joints) if args.blender_joints else None
    path = write_contact_sheet(args.out, result, video=args.video, count=args.frames,
                               blender_joints2d=joints, body_renders=args.body_renders,
                               skeleton=not args.no_skeleton)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="[genhmr %(levelname)s] %(message)s")
    if args.command == "serve":
        from .server import main as serve_main

        return serve_main()
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "build-task":
        from .detection import ensure_task_bundle

        print(ensure_task_bundle(args.out))
        return 0
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "refine":
            return _refine(args)
        if args.command in ("merge", "split", "drop"):
            return _edit_people(args)
        if args.command == "revisions":
            return _revisions(args)
        if args.command in ("resample", "accept"):
            return _alternatives(args)
        return _contact_sheet(args)
    except Exception:
        import traceback

        traceback.print_exc()
        return EXIT_INTERNAL
