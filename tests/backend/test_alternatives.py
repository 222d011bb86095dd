"""Alternatives for a stretch of one person (``genhmr.alternatives``) on a real job of the
sample clip: sampled beside the job without changing it, different readings of the same
image evidence, accepted as a revision that later re-runs start from."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from genhmr import job_store
from genhmr.alternatives import ResampleOptions, accept_alternative, resample_range
from genhmr.errors import JobCancelled, JobError
from genhmr.pipeline import Models
from genhmr.rerun import RefineOptions, refine_range

from genhmr_core import alternatives as layout
from genhmr_core import job_revisions
from genhmr_core.result_format import load_result


@pytest.fixture(scope="module")
def sampled(finished_job: Path, tmp_path_factory: pytest.TempPathFactory,
            models: Models) -> tuple[Path, object, dict[str, str]]:
    """A copy of the job with 3 alternatives for the man's frames 45-60, and the digest of its
    own files before sampling."""
    job = Path(shutil.copytree(finished_job, tmp_path_factory.mktemp("alt") / "job"))
    before = _digest(job)
    summary = resample_range(ResampleOptions(job_dir=str(job), person=_man(job), frame_start=45,
                                             frame_end=60, count=3, steps=20), models)
    return job, summary, before


def _man(job: Path) -> int:
    result = load_result(job / job_store.RESULT_FILE)
    return int(result.track_ids[int(result.valid.sum(1).argmax())])


def _digest(folder: Path) -> dict[str, str]:
    """The job's own files (not its alternatives)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()
            and layout.ALTERNATIVES_DIR not in p.relative_to(folder).parts}


def _pelvis_relative(result, p: int, frames: slice) -> np.ndarray:
    return result.keypoints3d[p, frames] - result.joints3d[p, frames, :1]


def test_sampling_keeps_alternatives_beside_the_unchanged_job(sampled) -> None:
    job, summary, before = sampled
    assert _digest(job) == before  # no file of the job changed, no revision was made
    assert job_revisions.read_log(job) is None
    assert layout.sets(job) == [summary.set_id]
    info = layout.read_info(job, summary.set_id)
    assert info == summary.info and info.count == 3 and info.base_revision == 0
    assert (info.frame_start, info.frame_end) == (45, 60)
    current = load_result(job / job_store.RESULT_FILE)
    p = int(np.flatnonzero(current.track_ids == info.person)[0])
    inside = (current.frame_indices >= 45) & (current.frame_indices <= 60)
    readings = []
    for k in range(1, 4):
        alt = load_result(layout.candidate_result(job, summary.set_id, info, k))
        assert alt.num_people == current.num_people
        # only this person's frames inside the range differ
        for q in range(current.num_people):
            same = ~inside if q == p else np.ones_like(inside)
            assert np.array_equal(alt.body_pose[q, same], current.body_pose[q, same]), (k, q)
            assert np.array_equal(alt.transl[q, same], current.transl[q, same]), (k, q)
        readings.append(_pelvis_relative(alt, p, inside))
    # Readings of the same evidence that differ (a limb moved by several centimetres over the
    # stretch), each as close to the detections as the motion the rig has.
    for c in info.candidates:
        assert c.largest_mm > 30.0 and c.distance_mm > 10.0, info
        assert c.reprojection_px < 30.0
    apart = [np.linalg.norm(readings[a] - readings[b], axis=-1).mean(0).max()
             for a in range(3) for b in range(a + 1, 3)]
    assert min(apart) > 0.01, apart  # no two alternatives are copies of each other


def test_the_same_seed_gives_the_same_alternatives(sampled, models: Models) -> None:
    job, summary, _ = sampled
    copy_dir = Path(shutil.copytree(job, job.parent / "again"))
    again = resample_range(ResampleOptions(job_dir=str(copy_dir), person=summary.info.person,
                                           frame_start=45, frame_end=60, count=3, steps=20),
                           models)
    for k in range(3):
        a = load_result(summary.result_paths[k])
        b = load_result(again.result_paths[k])
        assert np.allclose(a.body_pose, b.body_pose, atol=1e-5)


def test_a_cancelled_sampling_keeps_the_earlier_set(sampled, models: Models) -> None:
    job, summary, _ = sampled
    work = Path(shutil.copytree(job, job.parent / "cancel"))
    (work / ".alternatives-new-left-by-a-crash").mkdir()
    with pytest.raises(JobCancelled):
        resample_range(ResampleOptions(job_dir=str(work), person=summary.info.person,
                                       frame_start=50, frame_end=55, count=2, steps=5),
                       models, should_stop=lambda: True)
    assert layout.sets(work) == [summary.set_id]  # the earlier set, as it was
    assert layout.read_info(work, summary.set_id) == summary.info
    assert not [p.name for p in work.iterdir() if p.name.startswith(".alternatives")]
    with pytest.raises(JobError, match="count must be"):
        resample_range(ResampleOptions(job_dir=str(work), person=summary.info.person,
                                       frame_start=50, frame_end=55, count=9), models)


def test_accepting_makes_a_revision_later_reruns_start_from(sampled, models: Models) -> None:
    job, summary, _ = sampled
    work = Path(shutil.copytree(job, job.parent / "accept"))
    info = layout.read_info(work, summary.set_id)
    chosen = load_result(layout.candidate_result(work, summary.set_id, info, 2))
    # The woman is choosing too: a second set beside the man's.
    result = load_result(work / job_store.RESULT_FILE)
    woman = int(next(t for t in result.track_ids if t != info.person))
    seen = result.frame_indices[result.valid[list(result.track_ids).index(woman)]]
    hers = resample_range(ResampleOptions(job_dir=str(work), person=woman,
                                          frame_start=int(seen[0]), frame_end=int(seen[0]) + 8,
                                          count=1, steps=5), models)
    assert set(layout.sets(work)) == {summary.set_id, hers.set_id}
    with pytest.raises(JobError, match="sampled from another state"):
        accept_alternative(work, 2, summary.set_id, revision=1)
    done = accept_alternative(work, 2, summary.set_id, revision=0)
    assert done.revision == 1 and layout.sets(work) == [hers.set_id]  # the man's is used up
    result = load_result(work / job_store.RESULT_FILE)
    assert np.array_equal(result.body_pose, chosen.body_pose)
    with pytest.raises(JobError, match="no such alternatives"):
        accept_alternative(work, 2, summary.set_id)
    # hers was sampled from the state the man's alternative replaced
    with pytest.raises(JobError, match="sampled from another state"):
        accept_alternative(work, 1, hers.set_id)
    # Its stage-1 reading replaced the person's over the range, and only there.
    old_people = job_store.load_stage1(job)
    new_people = job_store.load_stage1(work)
    q = int(np.flatnonzero(result.track_ids == info.person)[0])
    span = new_people[q].stage1.logits.shape[0]
    rows = np.zeros(span, bool)
    rows[45 - 30 - new_people[q].span[0]:60 - 30 - new_people[q].span[0] + 1] = True
    old_tokens = old_people[q].stage1.logits.argmax(-1)
    new_tokens = new_people[q].stage1.logits.argmax(-1)
    assert np.array_equal(old_tokens[~rows], new_tokens[~rows])
    assert (old_tokens[rows] != new_tokens[rows]).mean() > 0.2
    # The accepted reading is the analysis's now: a re-run of the range starts from it (its
    # stage-1 rows were written too), so it stays near it rather than going back to the old.
    before = load_result(job / job_store.RESULT_FILE)
    p = int(np.flatnonzero(result.track_ids == info.person)[0])
    inside = (result.frame_indices >= 48) & (result.frame_indices <= 57)
    refine_range(RefineOptions(job_dir=str(work), person=info.person, frame_start=48,
                               frame_end=57, steps=20), models)
    rerun = load_result(work / job_store.RESULT_FILE)
    to_chosen = np.linalg.norm(_pelvis_relative(rerun, p, inside)
                               - _pelvis_relative(chosen, p, inside), axis=-1).mean()
    to_old = np.linalg.norm(_pelvis_relative(rerun, p, inside)
                            - _pelvis_relative(before, p, inside), axis=-1).mean()
    assert to_chosen < to_old, (to_chosen, to_old)
