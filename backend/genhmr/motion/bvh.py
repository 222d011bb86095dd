"""A BVH reader: hierarchy, offsets and per-frame local rotations as matrices.

BVH Euler channels are intrinsic rotations in the listed order (``Zrotation Yrotation
Xrotation`` means R = Rz·Ry·Rx); scipy's upper-case ``from_euler`` sequence is exactly that.
Angles become matrices at once, because some clips pass near gimbal lock (CMU 01_03) and no
later step should ever interpolate Euler angles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

_ROTATION_CHANNELS = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}
_POSITION_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}


class BvhError(ValueError):
    """The file is not a BVH file we can read; the message says where."""


@dataclass
class BvhMotion:
    """A parsed BVH file, in the file's own axes and units.

    ``offsets[j]`` is joint j's rest offset from its parent (the root's is its rest position);
    ``end_offsets[j]`` is the offset of j's ``End Site`` (NaN when it has none), which gives
    the direction of a leaf bone. ``positions`` holds the translation channels (NaN where a
    joint has none); a joint with them is placed there instead of at its offset.
    """

    names: list[str]
    parents: np.ndarray  # (J,) int, -1 for the root
    offsets: np.ndarray  # (J, 3)
    end_offsets: np.ndarray  # (J, 3), NaN where there is no End Site
    rotations: np.ndarray  # (T, J, 3, 3) local rotations
    positions: np.ndarray  # (T, J, 3) translation channels, NaN where absent
    frame_time: float

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError as exc:
            raise KeyError(f"no joint named {name!r} (joints: {', '.join(self.names)})") from exc


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file. Raises :class:`BvhError` with the file and line on malformed input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BvhError(f"{path}: cannot read ({exc})") from exc
    return parse_bvh(text, source=str(path))


def parse_bvh(text: str, source: str = "<bvh>") -> BvhMotion:
    lines = text.splitlines()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    end_offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    in_end_site = False
    pending: int | None = None  # joint declared, "{" not yet seen
    i = 0

    def fail(message: str) -> BvhError:
        return BvhError(f"{source}, line {i}: {message}")  # i: 1-based, already advanced

    while i < len(lines):
        tokens = lines[i].split()
        i += 1
        if not tokens:
            continue
        key = tokens[0].upper()
        if key == "HIERARCHY":
            continue
        if key in ("ROOT", "JOINT"):
            if len(tokens) < 2:
                raise fail(f"{key} without a name")
            if key == "ROOT" and names:
                raise fail("several ROOT joints are not supported")
            names.append(" ".join(tokens[1:]))
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            end_offsets.append([np.nan] * 3)
            channels.append([])
            pending = len(names) - 1
        elif key == "END":
            in_end_site = True
            pending = None
        elif key == "{":
            if pending is not None:
                stack.append(pending)
                pending = None
            elif not in_end_site:
                raise fail("unexpected '{'")
        elif key == "}":
            if in_end_site:
                in_end_site = False
            elif stack:
                stack.pop()
            else:
                raise fail("unbalanced '}'")
        elif key == "OFFSET":
            try:
                value = [float(v) for v in tokens[1:4]]
            except ValueError as exc:
                raise fail(f"bad OFFSET {tokens[1:]}") from exc
            if len(value) != 3 or not names:
                raise fail("OFFSET needs three numbers inside a joint")
            if in_end_site:
                end_offsets[stack[-1]] = value
            else:
                offsets[stack[-1]] = value
        elif key == "CHANNELS":
            if not stack:
                raise fail("CHANNELS outside a joint")
            count = int(tokens[1])
            chans = [t.lower() for t in tokens[2:2 + count]]
            unknown = [c for c in chans if c not in _ROTATION_CHANNELS
                       and c not in _POSITION_CHANNELS]
            if len(chans) != count or unknown:
                raise fail(f"bad CHANNELS {tokens[1:]}")
            channels[stack[-1]] = chans
        elif key == "MOTION":
            break
        else:
            raise fail(f"unexpected {tokens[0]!r} in HIERARCHY")
    if not names:
        raise BvhError(f"{source}: no HIERARCHY/ROOT found")
    if stack:
        raise BvhError(f"{source}: hierarchy not closed ('{{' without '}}')")

    frames = frame_time = None
    while i < len(lines) and (frames is None or frame_time is None):
        line = lines[i].strip()
        i += 1
        if line.lower().startswith("frames:"):
            frames = int(line.split(":")[1])
        elif line.lower().startswith("frame time:"):
            frame_time = float(line.split(":")[1])
    if frames is None or frame_time is None or frame_time <= 0:
        raise BvhError(f"{source}: MOTION section without 'Frames:' and a positive 'Frame Time:'")
    width = sum(len(c) for c in channels)
    rows = [row for row in (ln.split() for ln in lines[i:]) if row]
    # Some exporters write one row more or fewer than the header says (Boxing_Toes has 3,070
    # rows for "Frames: 3069"): trust the rows, but every row must be complete.
    short = next((k for k, row in enumerate(rows) if len(row) != width), None)
    if short is not None:
        raise BvhError(f"{source}: MOTION row {short + 1} has {len(rows[short])} values, the "
                       f"hierarchy needs {width} per frame")
    try:
        data = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise BvhError(f"{source}: non-numeric value in MOTION data ({exc})") from exc
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != width:
        got = "no rows" if data.size == 0 else f"rows of {data.shape[-1]} values"
        raise BvhError(f"{source}: MOTION data has {got}, the hierarchy needs {width} per frame")

    num_frames, num_joints = data.shape[0], len(names)
    rotations = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
    positions = np.full((num_frames, num_joints, 3), np.nan)
    column = 0
    for j, chans in enumerate(channels):
        block = data[:, column:column + len(chans)]
        column += len(chans)
        rot = [(k, _ROTATION_CHANNELS[c]) for k, c in enumerate(chans) if c in _ROTATION_CHANNELS]
        if rot:
            seq = "".join(axis for _, axis in rot)
            angles = block[:, [k for k, _ in rot]]
            rotations[:, j] = Rotation.from_euler(seq, angles, degrees=True).as_matrix()
        pos = [(k, _POSITION_CHANNELS[c]) for k, c in enumerate(chans) if c in _POSITION_CHANNELS]
        if pos:
            positions[:, j] = offsets[j]
            for k, axis in pos:
                positions[:, j, axis] = block[:, k]
    return BvhMotion(names=names, parents=np.array(parents), offsets=np.array(offsets),
                     end_offsets=np.array(end_offsets), rotations=rotations,
                     positions=positions, frame_time=float(frame_time))
