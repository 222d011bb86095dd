"""The camera facts a video file carries about itself: QuickTime metadata items.

Why: how far away the people are follows the focal length, and without the artist's lens the
job has to guess it (``genhmr.camera.default_focal_px``) or read it from a turning camera
(``genhmr.focal_from_turns``). iPhones write the lens they filmed with into every video, as a
35 mm-equivalent focal length: the QuickTime metadata key
``com.apple.quicktime.camera.focal_length.35mm_equivalent`` (AVFoundation's
``AVMetadataIdentifierQuickTimeMetadataCameraFocalLength35mmEquivalent``), an integer such as
26, or text such as "50.00mm", in the movie's or the video track's ``meta`` atom. OpenCV does
not expose these items and no video library is a dependency here, so this module reads the
atoms itself: small (the ``moov`` atom, not the media data), in plain Python.

Layout read (Apple's QuickTime File Format, "Metadata"): a ``meta`` atom (under ``moov``,
``moov/udta`` or ``moov/trak``; an ISO ``meta`` has 4 bytes of version and flags first, a
QuickTime one not) holds ``keys`` (version and flags, a count, then per key its size, its
namespace, ``mdta``, and its name) and ``ilst``, whose children are named by the 1-based key
index and each hold a ``data`` atom: a type (1 text, 21 signed integer, 22 unsigned, 23 and 24
big-endian floats), a locale, and the value. Anything malformed is skipped: a file without
these items, or a damaged one, simply has no metadata.
"""

from __future__ import annotations

import logging
import re
import struct
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FOCAL_35MM_KEY = "com.apple.quicktime.camera.focal_length.35mm_equivalent"
MAX_MOOV_BYTES = 64 * 1024 * 1024  # a movie header larger than this is not read
LENS_RANGE_MM = (8.0, 1200.0)  # a 35 mm-equivalent lens outside this is not believed
_CONTAINERS = {b"moov", b"trak", b"udta", b"mdia", b"minf"}
Value = str | int | float


def _atoms(buf: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each atom in ``buf[start:end]``; stops at the
    first malformed one."""
    out = []
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[at:at + 8])
        header = 8
        if size == 1:  # 64-bit size
            if at + 16 > end:
                break
            size = struct.unpack(">Q", buf[at + 8:at + 16])[0]
            header = 16
        elif size == 0:  # to the end
            size = end - at
        if size < header or at + size > end:
            break
        out.append((kind, at + header, at + size))
        at += size
    return out


def _value(kind: int, payload: bytes) -> Value | None:
    if kind == 1:
        return payload.decode("utf-8", errors="replace")
    if kind in (21, 22) and len(payload) in (1, 2, 4, 8):
        return int.from_bytes(payload, "big", signed=kind == 21)
    if kind == 23 and len(payload) == 4:
        return float(struct.unpack(">f", payload)[0])
    if kind == 24 and len(payload) == 8:
        return float(struct.unpack(">d", payload)[0])
    return None


def _meta_items(buf: bytes, start: int, end: int) -> dict[str, Value]:
    """The ``mdta`` items of one ``meta`` atom's payload."""
    children = _atoms(buf, start, end)
    if not any(kind in (b"keys", b"ilst") for kind, _, _ in children):
        children = _atoms(buf, start + 4, end)  # an ISO meta: version and flags first
    keys: dict[int, str] = {}
    items: dict[str, Value] = {}
    for kind, s, e in children:
        if kind == b"keys" and e - s >= 8:
            count = struct.unpack(">I", buf[s + 4:s + 8])[0]
            at = s + 8
            for index in range(1, count + 1):
                if at + 8 > e:
                    break
                size, namespace = struct.unpack(">I4s", buf[at:at + 8])
                if size < 8 or at + size > e:
                    break
                if namespace == b"mdta":
                    keys[index] = buf[at + 8:at + size].decode("utf-8", errors="replace")
                at += size
    for kind, s, e in children:
        if kind != b"ilst":
            continue
        for name, si, ei in _atoms(buf, s, e):
            key = keys.get(int.from_bytes(name, "big"))
            for data_kind, sd, ed in _atoms(buf, si, ei):
                if key is None or data_kind != b"data" or ed - sd < 8:
                    continue
                value = _value(int.from_bytes(buf[sd + 1:sd + 4], "big"), buf[sd + 8:ed])
                if value is not None:
                    items.setdefault(key, value)
    return items


def _walk(buf: bytes, start: int, end: int, items: dict[str, Value]) -> None:
    for kind, s, e in _atoms(buf, start, end):
        if kind == b"meta":
            for key, value in _meta_items(buf, s, e).items():
                items.setdefault(key, value)
        elif kind in _CONTAINERS:
            _walk(buf, s, e, items)


def _read_moov(f: BinaryIO) -> bytes | None:
    """The ``moov`` atom of a QuickTime / MP4 file (wherever it is), or None."""
    f.seek(0, 2)
    length = f.tell()
    at = 0
    while at + 8 <= length:
        f.seek(at)
        head = f.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:
            size, header = struct.unpack(">Q", head[8:16])[0], 16
        elif size == 0:
            size = length - at
        if size < header:
            return None
        if kind == b"moov":
            if size > MAX_MOOV_BYTES:
                return None
            f.seek(at)
            return f.read(size)
        at += size
    return None


def quicktime_items(path: str | Path) -> dict[str, Value]:
    """Every ``mdta`` metadata item of the movie and its tracks (the movie's first where both
    have one); empty for other files, files without them, or damaged ones."""
    try:
        with open(path, "rb") as f:
            moov = _read_moov(f)
    except OSError:
        return {}
    items: dict[str, Value] = {}
    if moov is not None and len(moov) >= 8:
        try:
            _walk(moov, 8 if struct.unpack(">I", moov[:4])[0] != 1 else 16, len(moov), items)
        except (struct.error, ValueError) as exc:
            log.info("metadata of %s: skipped (%s)", path, exc)
    return items


def lens_35mm(path: str | Path) -> float | None:
    """The 35 mm-equivalent focal length (mm) the camera wrote into the file, or None."""
    value = quicktime_items(path).get(FOCAL_35MM_KEY)
    if isinstance(value, str):
        number = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", value)
        value = float(number.group(1)) if number else None
    if value is None or not LENS_RANGE_MM[0] <= float(value) <= LENS_RANGE_MM[1]:
        return None
    return float(value)
