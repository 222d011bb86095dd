"""Re-entering a finished job: the job folder's artifacts, and refinement re-run on a range of
one person (``genhmr.rerun``), on a real job of the sample clip."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from genhmr import job_store
from genhmr.errors import JobCancelled, JobError
from genhmr.pipeline import JobOptions, Models
from genhmr.rerun import RefineOptions, edge_weights, refine_range

from genhmr_core.result_format import load_result
from genhmr_core.rotations import axis_angle_to_matrix
from genhmr_core.skeleton import JOINT_INDEX


@pytest.fixture()
def job(finished_job: Path, tmp_path: Path) -> Path:
    """A private copy: every test may rewrite it."""
    return Path(shutil.copytree(finished_job, tmp_path / "job"))


def _digest(folder: Path) -> dict[str, str]:
    """Every file of the folder, its revisions included."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _walker(result) -> tuple[int, int]:
    """(index, track id) of the person seen in most frames."""
    p = int(result.valid.sum(1).argmax())
    return p, int(result.track_ids[p])


def test_the_job_folder_keeps_what_a_rerun_needs(finished_job: Path) -> None:
    result = load_result(finished_job / job_store.RESULT_FILE)
    options = job_store.load_options(finished_job)
    assert options["start"] == 30 and options["end"] == 75 and options["method"] == "generative"
    tracks = job_store.load_tracks(finished_job)
    assert np.array_equal(tracks.valid, result.valid)
    assert np.array_equal(tracks.frame_indices, result.frame_indices)
    people = job_store.load_stage1(finished_job)
    assert len(people) == result.num_people
    for p, person in enumerate(people):
        first, stop = person.span
        seen = np.flatnonzero(result.valid[p])
        assert (first, stop) == (seen[0], seen[-1] + 1)
        n = stop - first
        s1 = person.stage1
        assert s1.logits.shape == (n, 32, 512) and s1.global_orient.shape == (n, 3, 3)
        assert s1.transl.shape == (n, 3) and s1.uncertainty.shape == (n, 21)
        # log-probabilities: each token's distribution sums to one
        assert np.allclose(np.exp(s1.logits.astype(np.float64)).sum(-1), 1.0, atol=2e-2)
    solve = load_result(finished_job / job_store.SOLVE_FILE)
    # the solve is the result before the world-space steps: same rotations of the arms, other
    # depths (smoothed), no floor
    assert solve.ground_plane is None and result.ground_plane is not None
    assert not np.allclose(solve.transl, result.transl)


def test_rerun_changes_only_this_persons_range_and_joins_it_smoothly(job: Path,
                                                                     models: Models) -> None:
    before = load_result(job / job_store.RESULT_FILE)
    solve = load_result(job / job_store.SOLVE_FILE)
    p, track = _walker(before)
    seen = before.frame_indices[before.valid[p]]
    a, b = int(seen[8]), int(seen[-8])
    summary = refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=a,
                                         frame_end=b, smoothing=20.0, steps=150), models)
    after = load_result(job / job_store.RESULT_FILE)
    assert (summary.frame_start, summary.frame_end) == (a, b)
    frames = before.frame_indices
    inside = (frames >= a) & (frames <= b)
    for q in range(before.num_people):
        for name in ("global_orient", "body_pose", "transl", "joints3d", "keypoints3d",
                     "joint_confidence", "foot_contact", "root_world"):
            old, new = getattr(before, name)[q], getattr(after, name)[q]
            if q != p:
                assert np.array_equal(old, new), (q, name)
            else:
                assert np.array_equal(old[~inside], new[~inside]), name
    moved = np.abs(after.joints3d[p, inside] - before.joints3d[p, inside]).max()
    assert moved > 0.005  # twenty times the smoothing changes the motion

    # Smoother inside: the refined motion itself (the solve, before the world steps, whose
    # pose smoothing takes the tremor out of both; measured 35 against 45 mm/frame^2 of joint
    # acceleration; refinement moves slowly through its soft tokens, hence the extra steps),
    # and the result too; no step at the edges: the joints' frame-to-frame moves at the
    # range's ends are no larger than their neighbours'.
    def accel(r, sl):
        j = r.joints3d[p, sl]
        return np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean()
    core = slice(int(np.flatnonzero(inside)[0]) + 4, int(np.flatnonzero(inside)[-1]) - 3)
    assert accel(load_result(job / job_store.SOLVE_FILE), core) < 0.9 * accel(solve, core)
    assert accel(after, core) < accel(before, core)
    steps = np.linalg.norm(np.diff(after.joints3d[p], axis=0), axis=-1).mean(-1)
    old_steps = np.linalg.norm(np.diff(before.joints3d[p], axis=0), axis=-1).mean(-1)
    for edge in (int(np.flatnonzero(inside)[0]) - 1, int(np.flatnonzero(inside)[-1])):
        near = old_steps[max(edge - 3, 0):edge + 4]
        assert steps[edge] <= near.max() * 1.25 + 1e-3, (edge, steps[edge], near)

    # the result is still its own forward kinematics over the range
    body, _ = models.get(JobOptions(**job_store.load_options(job)))
    skeleton = body.skeleton(after.betas[p].astype(np.float64))
    local = np.concatenate([after.global_orient[p, inside, None], after.body_pose[p, inside]], 1)
    with torch.no_grad():
        joints, _, _ = skeleton(torch.as_tensor(axis_angle_to_matrix(local),
                                                dtype=torch.float32),
                                torch.as_tensor(after.transl[p, inside]))
    assert np.abs(joints.numpy() - after.joints3d[p, inside]).max() < 1e-4


def test_rerun_keeps_the_bones_the_artist_fixed(job: Path, models: Models) -> None:
    before = load_result(job / job_store.RESULT_FILE)
    p, track = _walker(before)
    seen = before.frame_indices[before.valid[p]]
    a, b = int(seen[5]), int(seen[25])
    refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=a, frame_end=b,
                               smoothing=20.0, keep_joints=("left_elbow", "right_shoulder")),
                 models)
    after = load_result(job / job_store.RESULT_FILE)
    inside = (before.frame_indices >= a) & (before.frame_indices <= b)
    for name in ("left_elbow", "right_shoulder"):
        j = JOINT_INDEX[name] - 1
        assert np.abs(after.body_pose[p, inside, j] - before.body_pose[p, inside, j]).max() \
            < 1e-5, name
    spine = JOINT_INDEX["spine1"] - 1
    assert np.abs(after.body_pose[p, inside, spine]
                  - before.body_pose[p, inside, spine]).max() > 1e-3


def test_a_rerun_finds_the_floor_from_the_kept_background_lines(job: Path, models: Models,
                                                                monkeypatch) -> None:
    """The job keeps the background's vertical segments; a re-run finds the floor's tilt from
    them without reading the video again (1-3 s of a re-run's 3 s budget), and a folder from
    before they were kept gets them on its first re-run."""
    from genhmr import vertical_lines

    kept = job_store.load_background_lines(job)
    assert kept is not None and len(kept.segments) >= 10  # trees and posts behind the people
    assert kept.rotations is None  # a fixed camera
    before = load_result(job / job_store.RESULT_FILE)
    p, track = _walker(before)
    seen = before.frame_indices[before.valid[p]]
    reads = []
    real_read = vertical_lines.read_frames_at
    monkeypatch.setattr(vertical_lines, "read_frames_at",
                        lambda *a, **k: reads.append(a) or real_read(*a, **k))
    refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=int(seen[5]),
                               frame_end=int(seen[15])), models)
    assert reads == []
    after = load_result(job / job_store.RESULT_FILE)
    # the re-run moved one person's legs a little: the same tilt, to a fraction of a degree
    tilt = np.degrees(np.arccos(np.clip(after.ground_plane[:3] @ before.ground_plane[:3], -1, 1)))
    assert tilt < 0.5

    (job / job_store.BACKGROUND_FILE).unlink()
    refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=int(seen[5]),
                               frame_end=int(seen[15])), models)
    assert len(reads) == 1
    again = job_store.load_background_lines(job)
    assert np.array_equal(again.segments, kept.segments)


def test_edge_weights_fade_in_and_out_except_at_the_tracks_ends() -> None:
    w = edge_weights(10, 20, (0, 100), 3)
    assert w.tolist() == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25])
    assert edge_weights(0, 5, (0, 100), 3)[0] == 1.0  # the track starts there: nothing to fade
    assert edge_weights(95, 99, (0, 100), 3)[-1] == 1.0
    assert np.all(edge_weights(10, 20, (0, 100), 0) == 1.0)


def test_bad_requests_are_clear_errors_and_change_nothing(job: Path, models: Models) -> None:
    _, track = _walker(load_result(job / job_store.RESULT_FILE))
    state = _digest(job)

    def refine(**kw):
        args = {"job_dir": str(job), "person": track, "frame_start": 40, "frame_end": 50, **kw}
        return refine_range(RefineOptions(**args), models)

    with pytest.raises(JobError, match="no person 99"):
        refine(person=99)
    with pytest.raises(JobError, match="not in video frames 500-510"):
        refine(frame_start=500, frame_end=510)
    with pytest.raises(JobError, match="not a body joint"):
        refine(keep_joints=("pelvis",))
    with pytest.raises(JobError, match="steps must be"):
        refine(steps=0)
    with pytest.raises(JobError, match="empty frame range"):
        refine(frame_start=50, frame_end=40)
    with pytest.raises(JobCancelled):
        refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=40,
                                   frame_end=50), models, should_stop=lambda: True)
    assert _digest(job) == state  # nothing written by any of them

    with pytest.raises(JobError, match="does not exist"):
        refine(job_dir=str(job / "gone"))
    (job / job_store.STAGE1_FILE).write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(job_store.JobFolderError, match="damaged"):
        refine()
    payload = json.loads((job / job_store.JOB_FILE).read_text())
    payload["options"]["method"] = "fit"
    (job / job_store.JOB_FILE).write_text(json.dumps(payload))
    with pytest.raises(JobError, match="generative method"):
        refine()
    (job / job_store.JOB_FILE).unlink()
    with pytest.raises(job_store.JobFolderError, match="analyse the video again"):
        refine()


def test_undo_and_redo_reach_the_job_folder(job: Path, models: Models) -> None:
    """Every edit is a revision of the folder; an edit at an older one (the scene after an
    undo) starts from that state and keeps the undone ones (another import of the analysis may
    show them); a later one is there for a redo."""
    from genhmr.people_edits import drop_person

    from genhmr_core import job_revisions

    analysed = load_result(job / job_store.RESULT_FILE)
    p, track = _walker(analysed)
    ghost = int(analysed.track_ids[1 - p])
    seen = analysed.frame_indices[analysed.valid[p]]
    early, late = (int(seen[3]), int(seen[12])), (int(seen[-14]), int(seen[-5]))

    def refine(frames: tuple[int, int], **kw):
        return refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=frames[0],
                                          frame_end=frames[1], steps=10, smoothing=20.0, **kw),
                            models)

    def rows(result, frames: tuple[int, int]) -> np.ndarray:
        inside = (result.frame_indices >= frames[0]) & (result.frame_indices <= frames[1])
        return result.joints3d[p, inside]

    assert refine(early).revision == 1
    refined = load_result(job / job_store.RESULT_FILE)
    assert not np.array_equal(rows(refined, early), rows(analysed, early))
    assert drop_person(job, ghost).revision == 2
    # Undo both in Blender (the scene shows revision 0), then re-run another range: it starts
    # from the analysis (the early range as analysed, the ghost there), not from revision 2.
    summary = refine(late, revision=0)
    assert summary.revision == 3 and summary.result.num_people == analysed.num_people
    again = load_result(job / job_store.RESULT_FILE)
    assert np.array_equal(rows(again, early), rows(analysed, early))
    assert not np.array_equal(rows(again, late), rows(analysed, late))
    log = job_revisions.read_log(job)
    assert log.kept == (0, 1, 2, 3) and log.current == 3 and log.parents[3] == 0
    # The undone revisions stay: a second import of the analysis still at 2 (the ghost
    # dropped) re-runs the early range from its own state.
    from_two = refine(early, revision=2)
    assert from_two.revision == 4 and ghost not in from_two.result.track_ids.tolist()
    with pytest.raises(job_store.JobFolderError, match="no longer keeps revision 42"):
        drop_person(job, ghost, revision=42)

    # Drop the ghost (5); undo (the scene at 3): the ghost is a person of the analysis again.
    assert drop_person(job, ghost, revision=3).revision == 5
    state = _digest(job)
    with pytest.raises(JobError, match="no person 99"):
        drop_person(job, 99, revision=3)  # a failed edit: the folder exactly as it was
    with pytest.raises(JobCancelled):
        refine_range(RefineOptions(job_dir=str(job), person=track, frame_start=early[0],
                                   frame_end=early[1], revision=3), models,
                     should_stop=lambda: True)
    assert _digest(job) == state
    # Redo (the scene at 5 again): the folder's files are revision 5's, the ghost gone.
    assert ghost not in refine(early, revision=5).result.track_ids.tolist()
    # ... and an edit at 3 re-runs the ghost, brought back by the undo.
    ghost_seen = analysed.frame_indices[analysed.valid[1 - p]]
    back = refine_range(RefineOptions(job_dir=str(job), person=ghost,
                                      frame_start=int(ghost_seen[0]),
                                      frame_end=int(ghost_seen[-1]), steps=5, revision=3),
                        models)
    assert back.revision == 7 and ghost in back.result.track_ids.tolist()
    assert job_revisions.read_log(job).parents == {0: None, 1: 0, 2: 1, 3: 0, 4: 2, 5: 3,
                                                   6: 5, 7: 3}


def test_the_oldest_revisions_go_beyond_the_size_budget(job: Path, monkeypatch) -> None:
    """With a budget of one byte every edit keeps only what it must: revision 0, the one it
    started from, the one the folder showed before and its own; the rest is removed."""
    from genhmr.people_edits import drop_person

    from genhmr_core import job_revisions

    monkeypatch.setattr(job_revisions, "MAX_REVISION_BYTES", 1)
    ghost = int(load_result(job / job_store.RESULT_FILE).track_ids[0])
    for made in (1, 2, 3):  # each at revision 0, as three imports of the analysis would
        assert drop_person(job, ghost, revision=0).revision == made
    log = job_revisions.read_log(job)
    assert log.kept == (0, 2, 3)  # 1 was neither the base (0) nor the folder's (2)
    assert sorted(p.name for p in (job / job_revisions.REVISIONS_DIR).iterdir()) == [
        "0", "2", "3", "log.json"]
    infos, added = job_revisions.describe(job)
    # a drop rewrites all four files: revision 0's and 2's count whole, 3 is the folder's files
    own = {i.revision: i.own_bytes for i in infos}
    assert own[3] == 0 and added == own[0] + own[2]
    for revision in (0, 2):
        folder = job_revisions.revision_dir(job, revision)
        assert own[revision] == sum((folder / n).stat().st_size
                                    for n in job_revisions.EDITED_FILES) > 0


def test_a_folder_without_revisions_gets_them_at_its_first_edit(job: Path,
                                                                models: Models) -> None:
    """Folders written before revisions (and analyses never edited) are revision 0; a failed
    first edit leaves no trace, a new analysis into the folder forgets the old revisions."""
    from genhmr.people_edits import drop_person

    from genhmr_core import job_revisions

    state = _digest(job)
    with pytest.raises(job_store.JobFolderError, match="no longer keeps revision 1"):
        drop_person(job, 0, revision=1)
    with pytest.raises(JobError, match="no person 99"):
        drop_person(job, 99, revision=0)
    assert _digest(job) == state and not (job / job_revisions.REVISIONS_DIR).exists()
    result = load_result(job / job_store.RESULT_FILE)
    assert drop_person(job, int(result.track_ids[0])).revision == 1
    # revision 0 is the folder as it was before that edit
    assert _digest(job)["revisions/0/result.npz"] == state["result.npz"]
    job_store.save_options(job, JobOptions(**job_store.load_options(job)))
    assert job_revisions.read_log(job) is None


def test_split_then_merge_gives_one_person_solved_again(job: Path, models: Models) -> None:
    from genhmr.people_edits import drop_person, merge_people, split_person

    before = load_result(job / job_store.RESULT_FILE)
    p, track = _walker(before)
    seen = before.frame_indices[before.valid[p]]
    cut = int(seen[len(seen) // 2])
    split = split_person(job, track, cut)
    new_id = int(before.track_ids.max()) + 1
    assert split.people == [*before.track_ids.tolist(), new_id]
    halves = load_result(job / job_store.RESULT_FILE)
    assert halves.frame_indices[halves.valid[p]].max() < cut
    assert halves.frame_indices[halves.valid[-1]].min() >= cut
    assert (halves.valid[p] | halves.valid[-1]).sum() == before.valid[p].sum()
    # the folder stays consistent: its stage 1 follows the people
    assert len(job_store.load_stage1(job)) == halves.num_people

    merged = merge_people(job, track, new_id, models)
    assert merged.people == before.track_ids.tolist()
    after = load_result(job / job_store.RESULT_FILE)
    assert np.array_equal(after.valid, before.valid)
    spans = [s.span for s in job_store.load_stage1(job)]
    assert spans[p] == (int(np.flatnonzero(before.valid[p])[0]),
                        int(np.flatnonzero(before.valid[p])[-1]) + 1)
    # solved again as one track: no step at the cut (it is the analysis's own kind of solve)
    steps = np.linalg.norm(np.diff(after.joints3d[p], axis=0), axis=-1).mean(-1)
    at = int(np.flatnonzero(after.frame_indices == cut)[0]) - 1
    assert steps[at] <= np.median(steps[after.valid[p][1:] & after.valid[p][:-1]]) * 3
    others = [q for q in range(before.num_people) if q != p]
    for q in others:
        assert np.array_equal(after.joints3d[q], before.joints3d[q])

    dropped = drop_person(job, int(before.track_ids[others[0]]) if others else track)
    assert len(dropped.people) == before.num_people - 1
    assert load_result(job / job_store.RESULT_FILE).num_people == before.num_people - 1
    with pytest.raises(JobError, match="no person 99"):
        merge_people(job, track, 99, models)


def test_the_command_line_reruns_and_fixes_people(job: Path, capsys) -> None:
    from genhmr.cli import EXIT_BAD_INPUT, main

    result = load_result(job / job_store.RESULT_FILE)
    p, track = _walker(result)
    seen = result.frame_indices[result.valid[p]]
    frames = f"{int(seen[3])}:{int(seen[12])}"
    assert main(["refine", str(job), "--person", str(track), "--frames", frames,
                 "--steps", "5"]) == 0
    assert "re-refined" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:  # argparse says what is wrong, exit status 2
        main(["refine", str(job), "--person", str(track), "--frames", "x"])
    assert bad.value.code == EXIT_BAD_INPUT and "must be A:B" in capsys.readouterr().err
    assert main(["merge", str(job), "--keep", str(track), "--other", "99"]) == EXIT_BAD_INPUT
    assert "no person 99" in capsys.readouterr().err
    assert main(["drop", str(job), "--person", str(track)]) == 0
    assert track not in load_result(job / job_store.RESULT_FILE).track_ids.tolist()


def test_the_command_line_lists_and_restores_revisions(job: Path, capsys) -> None:
    from genhmr.cli import EXIT_BAD_INPUT, main
    from genhmr.people_edits import drop_person

    analysed = _digest(job)
    assert main(["revisions", str(job)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["*", "0", "-", "0.0", "MB", "analysis"]
    assert "adds 0.0 MB" in lines[-1]
    result = load_result(job / job_store.RESULT_FILE)
    for person in result.track_ids[:2].tolist():  # 1 and 2, both made from 0
        drop_person(job, int(person), revision=0)
    assert main(["revisions", str(job)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.removeprefix("*").split() for line in lines[1:-1]]
    assert [row[:2] for row in rows] == [["0", "-"], ["1", "0"], ["2", "0"]], lines
    assert [line.startswith("*") for line in lines[1:-1]] == [False, False, True]
    assert float(rows[1][2]) > 0 and rows[2][2] == "0.0"  # 2 is the folder's files
    assert lines[2].endswith(f"MB  drop person {int(result.track_ids[0])}")

    assert main(["revisions", str(job), "--restore", "0"]) == 0
    captured = capsys.readouterr()
    assert "revision 0 now" in captured.err and captured.out.splitlines()[1].startswith("*")
    assert {k: v for k, v in _digest(job).items() if "/" not in k} == analysed
    assert main(["revisions", str(job), "--restore", "9"]) == EXIT_BAD_INPUT
    assert "keeps revisions 0, 1, 2, not 9" in capsys.readouterr().err
    assert main(["revisions", str(job / "nowhere")]) == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err
