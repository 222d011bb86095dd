"""Which video to analyse and how its frames map onto the scene timeline.

Frame mapping (used for analysis requests and for keying): ``offset`` is the scene frame that
shows video frame 0.

* VSE movie strip: ``offset = strip.frame_start``; the strip's visible part (after trimming) is
  video frames ``[frame_final_start - frame_start, frame_final_end - frame_start)``.
* Movie Clip: ``offset = clip.frame_start - clip.frame_offset``; all its frames.
* File path: ``offset = scene.frame_start``; all its frames.

Range modes narrow that down: ``SOURCE`` keeps it, ``SCENE`` intersects it with the scene's frame
range, ``CUSTOM`` with the panel's start/end (scene frames, inclusive).
"""

from __future__ import annotations

import dataclasses
import os

import bpy

UNBOUNDED = 1 << 30  # "to the end of the video" when the length is not known here


class SourceError(ValueError):
    """The chosen video source is missing or unusable; the message is for the artist."""


@dataclasses.dataclass
class VideoSource:
    path: str  # absolute file path of the video
    offset: int  # scene frame that shows video frame 0
    start: int  # first video frame to analyse (0-based, inclusive)
    end: int  # last video frame, exclusive
    label: str  # what the UI calls it

    @property
    def scene_range(self) -> tuple[int, int]:
        """Inclusive scene frames covered by [start, end)."""
        return self.offset + self.start, self.offset + self.end - 1


def all_strips(scene: bpy.types.Scene) -> list:
    """Every strip of the scene's sequencer (``strips_all`` from 4.4, ``sequences_all`` before)."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    strips = getattr(editor, "strips_all", None)
    if strips is None:
        strips = editor.sequences_all
    return list(strips)


def movie_strip(scene: bpy.types.Scene, name: str = "") -> bpy.types.ID:
    """The named movie strip, else the active strip, else the only movie strip."""
    editor = scene.sequence_editor
    movies = [s for s in all_strips(scene) if s.type == "MOVIE"]
    if name:
        for strip in movies:
            if strip.name == name:
                return strip
        raise SourceError(f"No movie strip named '{name}' in the Video Sequencer")
    active = editor.active_strip if editor is not None else None
    if active is not None and active.type == "MOVIE":
        return active
    if len(movies) == 1:
        return movies[0]
    if not movies:
        raise SourceError("The Video Sequencer has no movie strip: add the video first")
    raise SourceError("Several movie strips: pick one in the GenHMR panel")


def _absolute(path: str) -> str:
    full = os.path.normpath(bpy.path.abspath(path))
    if not os.path.isfile(full):
        raise SourceError(f"Video file not found: {full}")
    return full


def resolve_source(scene: bpy.types.Scene, settings: bpy.types.PropertyGroup,
                   filepath: str = "") -> VideoSource:
    """The video and the video-frame range to analyse, from the panel settings.

    ``filepath`` (operator property for scripts) overrides the panel's source.
    """
    kind = "FILE" if filepath else settings.source
    if kind == "STRIP":
        strip = movie_strip(scene, settings.strip_name)
        offset = round(strip.frame_start)
        src = VideoSource(_absolute(strip.filepath), offset,
                          round(strip.frame_final_start) - offset,
                          round(strip.frame_final_end) - offset, f"strip '{strip.name}'")
    elif kind == "CLIP":
        clip = settings.clip
        if clip is None:
            raise SourceError("Choose a Movie Clip in the GenHMR panel")
        if clip.source != "MOVIE":
            raise SourceError(f"Movie Clip '{clip.name}' is an image sequence, not a video")
        src = VideoSource(_absolute(clip.filepath), clip.frame_start - clip.frame_offset, 0,
                          clip.frame_duration, f"clip '{clip.name}'")
    else:
        path = filepath or settings.filepath
        if not path:
            raise SourceError("Choose a video file in the GenHMR panel")
        src = VideoSource(_absolute(path), scene.frame_start, 0, UNBOUNDED,
                          os.path.basename(path))
    if settings.range_mode == "SCENE":
        first, last = scene.frame_start, scene.frame_end
    elif settings.range_mode == "CUSTOM":
        first, last = settings.frame_start, settings.frame_end
    else:
        return src
    if first > last:
        raise SourceError(f"The range starts at frame {first}, after its end at frame {last}: "
                          "set the start to the end or earlier")
    start = max(src.start, first - src.offset)
    end = min(src.end, last + 1 - src.offset)
    if end <= start:
        where = (f"scene frames {src.scene_range[0]}-{src.scene_range[1]}"
                 if src.end < UNBOUNDED else f"from scene frame {src.scene_range[0]} on")
        raise SourceError(f"Frames {first}-{last} do not overlap the video ({src.label}, "
                          f"{where})")
    return dataclasses.replace(src, start=start, end=end)
