"""Errors a job reports to the artist, shared by every stage (perception, fitting, saving).

They live apart from :mod:`genhmr.pipeline` so that stage modules (e.g. :mod:`genhmr.perception`)
can raise them without importing the whole pipeline.
"""

from __future__ import annotations


class JobError(RuntimeError):
    """A job failed for a reason the artist can act on; ``kind`` names it for the add-on."""

    kind = "job"


class InputVideoError(JobError):
    kind = "video"


class NoPersonFoundError(JobError):
    kind = "no_person"


class BodyModelError(JobError):
    kind = "body_model"


class DetectorModelError(JobError):
    """A detection model file is missing or damaged (the message names it and the fix)."""

    kind = "detector"


class JobCancelled(Exception):
    """The job was cancelled through ``should_stop``; nothing was written."""
