"""The JSON-lines protocol between the add-on and the backend (genhmr_core.protocol)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genhmr_core.protocol import (
    EVENT_TYPES,
    PROTOCOL_VERSION,
    REQUEST_TYPES,
    REQUIRED,
    START_DEFAULTS,
    ProtocolError,
    accept_request,
    decode,
    drop_request,
    encode,
    job_options,
    merge_request,
    refine_options,
    refine_request,
    request_revision,
    resample_options,
    resample_request,
    split_request,
    start_request,
    validate,
)

EXAMPLES: dict[str, dict] = {
    "start": {"type": "start", "job_id": "j1", "video": "/v/clip.mp4", "out_dir": "/tmp/out"},
    "refine": {"type": "refine", "job_id": "j2", "job_dir": "/tmp/out", "person": 1,
               "frame_start": 40, "frame_end": 69},
    "merge": {"type": "merge", "job_id": "j3", "job_dir": "/tmp/out", "keep": 0, "other": 2,
              "revision": None},
    "split": {"type": "split", "job_id": "j4", "job_dir": "/tmp/out", "person": 0, "frame": 120,
              "new_person": None, "revision": None},
    "drop": {"type": "drop", "job_id": "j5", "job_dir": "/tmp/out", "person": 3,
             "revision": None},
    "resample": {"type": "resample", "job_id": "j6", "job_dir": "/tmp/out", "person": 0,
                 "frame_start": 169, "frame_end": 189, "revision": None, "count": 4,
                 "temperature": 1.5, "seed": 0, "steps": None, "blend_frames": 3},
    "accept": {"type": "accept", "job_id": "j7", "job_dir": "/tmp/out", "alternative": 2,
               "set": None, "revision": None},
    "cancel": {"type": "cancel", "job_id": "j1"},
    "shutdown": {"type": "shutdown"},
    "hello": {"type": "hello", "protocol": PROTOCOL_VERSION, "backend_version": "0.1.0"},
    "accepted": {"type": "accepted", "job_id": "j1"},
    "progress": {"type": "progress", "job_id": "j1", "stage": "detect", "done": 12,
                 "total": 230, "elapsed_s": 3.5},
    "person": {"type": "person", "job_id": "j1", "track_id": 0, "frames": 230},
    "done": {"type": "done", "job_id": "j1", "result_path": "/tmp/out/result.npz",
             "num_people": 1, "elapsed_s": 42.0, "stage_seconds": {"detect": 30.0}},
    "cancelled": {"type": "cancelled", "job_id": "j1"},
    "error": {"type": "error", "job_id": "j1", "message": "cannot open video",
              "traceback": "Traceback (most recent call last): ..."},
    "bye": {"type": "bye"},
}


def test_every_message_type_has_an_example_and_required_fields():
    assert set(EXAMPLES) == set(REQUIRED) == REQUEST_TYPES | EVENT_TYPES
    assert not REQUEST_TYPES & EVENT_TYPES
    for kind, message in EXAMPLES.items():
        assert set(REQUIRED[kind]) <= set(message), kind


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_encode_decode_round_trip(kind):
    line = encode(EXAMPLES[kind])
    assert line.endswith("\n") and line.count("\n") == 1
    assert decode(line) == EXAMPLES[kind]
    assert decode(line.encode("utf-8")) == EXAMPLES[kind]  # bytes from a pipe
    assert decode(line.rstrip("\n")) == EXAMPLES[kind]


def test_one_line_even_with_newlines_and_unicode_in_values():
    message = {"type": "error", "message": "line one\nline two — ünïcødé",
               "traceback": "a\nb\r\nc"}
    line = encode(message)
    assert line.count("\n") == 1
    assert decode(line) == message


def test_nan_is_refused():
    with pytest.raises(ValueError):
        encode({"type": "progress", "job_id": "j", "stage": "fit", "done": 1, "total": 2,
                "elapsed_s": float("nan")})


@pytest.mark.parametrize("line", ["", "not json", "{", "[1, 2]", "42", '"start"', "null"])
def test_garbage_lines(line):
    with pytest.raises(ProtocolError):
        decode(line)


def test_invalid_utf8_bytes_are_an_error_not_a_crash():
    with pytest.raises(ProtocolError):
        decode(b"\xff\xfe{not json")


@pytest.mark.parametrize("message", [{}, {"type": 3}, {"job_id": "j"}, {"type": None}])
def test_type_must_be_a_string(message):
    with pytest.raises(ProtocolError, match="'type'"):
        validate(message)


def test_unknown_type():
    with pytest.raises(ProtocolError, match="unknown message type 'launch'"):
        decode('{"type": "launch"}')
    with pytest.raises(ProtocolError, match="unknown message type"):
        encode({"type": "Start", "job_id": "j", "video": "v", "out_dir": "o"})


@pytest.mark.parametrize("kind", sorted(k for k in REQUIRED if REQUIRED[k]))
def test_missing_fields(kind):
    for field in REQUIRED[kind]:
        message = {k: v for k, v in EXAMPLES[kind].items() if k != field}
        with pytest.raises(ProtocolError, match=f"{kind} message lacks {field}"):
            decode(json.dumps(message))


def test_missing_fields_are_all_named():
    with pytest.raises(ProtocolError, match="start message lacks job_id, video, out_dir"):
        validate({"type": "start"})


def test_extra_fields_are_allowed():
    """Newer peers may add fields; older ones ignore them."""
    message = dict(EXAMPLES["progress"], fps=24.0, note="x")
    assert decode(encode(message)) == message


def test_start_request_fills_defaults():
    request = start_request("j1", "/v/clip.mp4", "/tmp/out")
    validate(request)
    assert request["type"] == "start"
    assert request["job_id"] == "j1" and request["video"] == "/v/clip.mp4"
    assert request["out_dir"] == "/tmp/out"
    for key, default in START_DEFAULTS.items():
        assert request[key] == default, key
    assert decode(encode(request)) == request


def test_start_request_options_override_defaults():
    request = start_request("j2", "v.mp4", "out", start=10, end=50, device="cpu",
                            smplx_dir="/models", focal_px=1200.0, max_people=2)
    assert (request["start"], request["end"], request["device"]) == (10, 50, "cpu")
    assert request["smplx_dir"] == "/models" and request["focal_px"] == 1200.0
    assert request["max_people"] == 2
    assert request["tiling"] == START_DEFAULTS["tiling"]


def test_start_request_rejects_unknown_options():
    with pytest.raises(ProtocolError, match="unknown job options: colour, frames"):
        start_request("j", "v", "o", frames=3, colour="red")


def test_job_options_applies_defaults_and_drops_the_rest():
    request = {"type": "start", "job_id": "j", "video": "v", "out_dir": "o", "end": 20,
               "unrelated": 1}
    options = job_options(request)
    assert set(options) == set(START_DEFAULTS)
    assert options["end"] == 20
    assert options["start"] == START_DEFAULTS["start"]


def test_protocol_doc_covers_every_message():
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    for kind in REQUIRED:
        assert f'"type":"{kind}"' in doc or f'"type": "{kind}"' in doc, kind
    for option in START_DEFAULTS:
        assert f"`{option}`" in doc, option


def test_refine_request_defaults_and_options():
    request = refine_request("j2", "/tmp/out", 1, 40, 69, smoothing=2.0,
                             keep_joints=["left_elbow"])
    assert decode(encode(request)) == request
    options = refine_options(request)
    assert options["smoothing"] == 2.0 and options["keep_joints"] == ("left_elbow",)
    assert options["steps"] is None and options["blend_frames"] == 3
    # a minimal request (another client) gets the defaults
    assert refine_options(EXAMPLES["refine"])["keep_joints"] == ()
    with pytest.raises(ProtocolError, match="unknown refine options: smooth"):
        refine_request("j2", "/tmp/out", 1, 40, 69, smooth=2.0)


def test_merge_request():
    request = merge_request("j3", "/tmp/out", 0, 2)
    assert request == EXAMPLES["merge"]
    assert decode(encode(request)) == request
    assert "merge" in REQUEST_TYPES and PROTOCOL_VERSION >= 3
    # track ids travel as JSON integers, whatever number type the caller holds
    assert encode(merge_request("j3", "/tmp/out", 4, 7.0)).endswith(
        '"keep":4,"other":7,"revision":null}\n')
    with pytest.raises(ProtocolError, match="merged into themselves"):
        merge_request("j3", "/tmp/out", 2, 2)
    with pytest.raises(ProtocolError, match="merge message lacks keep, other"):
        validate({"type": "merge", "job_id": "j3", "job_dir": "/tmp/out"})


def test_split_and_drop_requests():
    assert split_request("j4", "/tmp/out", 0, 120) == EXAMPLES["split"]
    assert drop_request("j5", "/tmp/out", 3) == EXAMPLES["drop"]
    assert {"split", "drop"} <= REQUEST_TYPES and PROTOCOL_VERSION >= 4
    assert encode(split_request("j4", "/tmp/out", 1, 30.0, new_person=9)).endswith(
        '"person":1,"frame":30,"new_person":9,"revision":null}\n')
    with pytest.raises(ProtocolError, match="split message lacks frame"):
        validate({"type": "split", "job_id": "j4", "job_dir": "/tmp/out", "person": 0})
    with pytest.raises(ProtocolError, match="drop message lacks person"):
        validate({"type": "drop", "job_id": "j5", "job_dir": "/tmp/out"})


def test_edit_requests_name_the_job_folder_revision():
    """Version 5: every edit of a finished job names the folder revision the scene shows."""
    assert PROTOCOL_VERSION >= 5
    for request in (refine_request("j2", "/tmp/out", 1, 40, 69, revision=3),
                    resample_request("j6", "/tmp/out", 0, 169, 189, revision=3),
                    accept_request("j7", "/tmp/out", 2, revision=3),
                    merge_request("j3", "/tmp/out", 0, 2, revision=3),
                    split_request("j4", "/tmp/out", 0, 120, revision=3),
                    drop_request("j5", "/tmp/out", 3, revision=3)):
        assert decode(encode(request))["revision"] == 3
        assert request_revision(request) == 3
    assert request_revision(EXAMPLES["drop"]) is None  # null: the folder's current revision
    assert request_revision({"type": "drop"}) is None  # absent (an older client): the same
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ProtocolError, match="a revision is a whole number"):
            request_revision({"revision": bad})
        with pytest.raises(ProtocolError, match="a revision is a whole number"):
            drop_request("j5", "/tmp/out", 3, revision=bad)


def test_resample_and_accept_requests():
    """Version 6: alternatives for a range, and accepting one."""
    assert PROTOCOL_VERSION >= 6 and {"resample", "accept"} <= REQUEST_TYPES
    assert resample_request("j6", "/tmp/out", 0, 169, 189) == EXAMPLES["resample"]
    assert accept_request("j7", "/tmp/out", 2) == EXAMPLES["accept"]
    assert accept_request("j7", "/tmp/out", 2, "5e1f0a9c")["set"] == "5e1f0a9c"
    request = resample_request("j6", "/tmp/out", 0, 169, 189, count=2, seed=7)
    assert decode(encode(request)) == request
    options = resample_options(request)
    assert options["count"] == 2 and options["seed"] == 7 and options["temperature"] == 1.5
    # a minimal request (another client) gets the defaults
    assert resample_options({"type": "resample"})["count"] == 4
    with pytest.raises(ProtocolError, match="unknown resample options: k"):
        resample_request("j6", "/tmp/out", 0, 169, 189, k=2)
    with pytest.raises(ProtocolError, match="accept message lacks alternative"):
        validate({"type": "accept", "job_id": "j7", "job_dir": "/tmp/out"})
