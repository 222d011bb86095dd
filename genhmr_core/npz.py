"""Writing ``.npz`` files with a fast deflate level.

``numpy.savez_compressed`` deflates at zlib's default level 6. The job's largest file,
``stage1.npz`` (stage 1's log-probabilities, 32 x 512 per person-frame), then took 0.72 s of
CPU for demo.mp4's 383 person-frames; level 1 takes 0.28 s for a file 1.7 % larger (9.9
against 9.8 MB), and every other file of a job is within 2 % as well. ``numpy.load`` reads
either: the format is the same zip of ``.npy`` members.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from typing import BinaryIO

import numpy as np

FAST_LEVEL = 1


def save_npz(file: BinaryIO, arrays: Mapping[str, np.ndarray],
             compresslevel: int = FAST_LEVEL) -> None:
    """Write ``arrays`` to the open binary ``file`` as ``numpy.savez_compressed`` would, at
    zlib level ``compresslevel`` (0: stored, no compression). Object arrays are refused, as
    ``numpy.load(allow_pickle=False)`` would refuse to read them back."""
    method = zipfile.ZIP_STORED if compresslevel == 0 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(file, "w", method, compresslevel=compresslevel or None) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
