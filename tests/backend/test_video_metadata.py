"""The lens a camera wrote into its video (``genhmr.video_metadata``), and the job using it.

A real MP4 (Pose2Sim's cam01, whose movie header follows its media data, so atoms can be added
to it without moving any frame) gets the QuickTime metadata an iPhone writes, built here atom
by atom after Apple's layout: ``meta`` > ``hdlr`` (``mdta``), ``keys``, ``ilst`` > item >
``data``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from genhmr.camera import focal_from_35mm
from genhmr.pipeline import JobOptions, _focal_px
from genhmr.video import probe, read_frames
from genhmr.video_metadata import FOCAL_35MM_KEY, lens_35mm, quicktime_items

POSE2SIM_CAM01 = "pose2sim/Demo_MultiPerson/videos/cam01.mp4"


def _atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _meta(items: dict[str, tuple[int, bytes]], iso: bool = False) -> bytes:
    """A ``meta`` atom holding ``items`` {key: (data type, value bytes)}."""
    hdlr = _atom(b"hdlr", bytes(8) + b"mdta" + bytes(12) + b"\x00")
    keys = b"".join(struct.pack(">I4s", 8 + len(k.encode()), b"mdta") + k.encode()
                    for k in items)
    keys_atom = _atom(b"keys", bytes(4) + struct.pack(">I", len(items)) + keys)
    entries = b"".join(
        _atom(struct.pack(">I", i), _atom(b"data", struct.pack(">I", kind) + bytes(4) + value))
        for i, (kind, value) in enumerate(items.values(), start=1))
    return _atom(b"meta", (bytes(4) if iso else b"") + hdlr + keys_atom + _atom(b"ilst", entries))


def _with_metadata(source: Path, target: Path, meta: bytes, in_track: bool = False) -> Path:
    """``source`` with ``meta`` added at the end of its ``moov`` (or of its first ``trak``)."""
    data = bytearray(source.read_bytes())
    at = 0
    while True:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"moov":
            break
        at += size
    assert at + size == len(data), "the movie header must come last"
    if in_track:
        inner = at + 8
        while struct.unpack(">4s", data[inner + 4:inner + 8])[0] != b"trak":
            inner += struct.unpack(">I", data[inner:inner + 4])[0]
        track_size = struct.unpack(">I", data[inner:inner + 4])[0]
        data[inner + track_size:inner + track_size] = meta
        data[inner:inner + 4] = struct.pack(">I", track_size + len(meta))
    else:
        data += meta
    data[at:at + 4] = struct.pack(">I", size + len(meta))
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    path = media_dir / POSE2SIM_CAM01
    if not path.is_file():
        pytest.fail(f"{path} is missing; run `bash tools/setup.sh`", pytrace=False)
    return path


def test_an_iphone_lens_is_read_from_the_movie_or_the_track(source: Path, tmp_path: Path):
    integer = _meta({"com.apple.quicktime.make": (1, b"Apple"),
                     FOCAL_35MM_KEY: (21, struct.pack(">h", 26))})
    movie = _with_metadata(source, tmp_path / "movie.mp4", integer)
    assert quicktime_items(movie) == {"com.apple.quicktime.make": "Apple", FOCAL_35MM_KEY: 26}
    assert lens_35mm(movie) == 26.0
    text = _meta({FOCAL_35MM_KEY: (1, b"50.00mm")}, iso=True)  # text, in an ISO meta
    track = _with_metadata(source, tmp_path / "track.mp4", text, in_track=True)
    assert lens_35mm(track) == 50.0
    # the frames are untouched: the file still decodes, frame for frame
    info = probe(track)
    assert (info.width, info.height) == (probe(source).width, probe(source).height)
    assert len(list(read_frames(track, 0, 3))) == 3


def test_the_job_takes_the_files_lens_unless_the_artist_gave_one(source: Path, tmp_path: Path):
    video = _with_metadata(source, tmp_path / "lens.mp4",
                           _meta({FOCAL_35MM_KEY: (22, struct.pack(">I", 33))}))
    info = probe(video)
    assert _focal_px(JobOptions(video=str(video), out_dir=str(tmp_path)), info) == \
        pytest.approx(focal_from_35mm(33, info.width, info.height))
    assert _focal_px(JobOptions(video=str(video), out_dir=str(tmp_path), lens_35mm=24.0),
                     info) == pytest.approx(focal_from_35mm(24, info.width, info.height))
    assert _focal_px(JobOptions(video=str(video), out_dir=str(tmp_path), focal_px=900.0),
                     info) == 900.0
    # a file without the item (as the Pose2Sim and demo clips are): nobody says
    assert _focal_px(JobOptions(video=str(source), out_dir=str(tmp_path)), info) is None


def test_damaged_or_foreign_files_have_no_metadata(source: Path, tmp_path: Path):
    good = _with_metadata(source, tmp_path / "good.mp4",
                          _meta({FOCAL_35MM_KEY: (21, struct.pack(">h", 26))}))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:-7])  # the last atom runs past the end
    assert lens_35mm(cut) is None
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    assert quicktime_items(noise) == {} and quicktime_items(tmp_path / "absent.mp4") == {}
    silly = _with_metadata(source, tmp_path / "silly.mp4",
                           _meta({FOCAL_35MM_KEY: (21, struct.pack(">h", 2))}))
    assert lens_35mm(silly) is None  # a 2 mm "full-frame equivalent" is no lens
