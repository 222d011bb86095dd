"""Deleting a folder so that no reader ever sees half of it.

``shutil.rmtree`` removes files one by one: a reader (the add-on polling a job folder, a
later ``genhmr`` call) can find a set of alternatives or a revision log with some files gone
and take it for whole. Renaming the folder into a hidden sibling first is atomic on one file
system, so the folder is either all there or not there; the hidden copy is then deleted at
leisure, and a leftover from a crash only costs space (``hidden_prefix`` lets a later call
sweep it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def remove_whole(folder: str | os.PathLike[str], hide_in: str | os.PathLike[str],
                 hidden_prefix: str) -> None:
    """Remove ``folder`` (absent: nothing to do) by renaming it away, then deleting the copy.

    The hidden copy is made in ``hide_in`` (on ``folder``'s file system; a job folder, where
    the code that owns ``hidden_prefix`` sweeps crash leftovers) as ``<hidden_prefix>…``. Best
    effort: a folder that cannot be renamed stays whole where it is, and a file that cannot be
    deleted stays in the hidden copy, never in ``folder``.
    """
    folder = Path(folder)
    if not folder.exists():
        return
    gone = Path(tempfile.mkdtemp(dir=hide_in, prefix=hidden_prefix))
    with contextlib.suppress(OSError):
        os.replace(folder, gone / folder.name)
    shutil.rmtree(gone, ignore_errors=True)
