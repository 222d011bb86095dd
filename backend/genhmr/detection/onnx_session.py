"""One way to open the detectors' ONNX models: onnxruntime on the CPU, a few threads, no spinning.

Why not onnxruntime's defaults: its intra-op worker threads spin for a while after every run,
waiting for the next one. The detectors run one small network call at a time with Python work
in between (cropping, masking, tracking), so those threads spin through all of it: on
``demo.mp4`` (230 frames, 2 people) perception took 25-29 s of CPU time for 13-15 s of wall
clock with spinning, and 16-18 s of CPU for 10-12 s of wall clock without, with the same
detections. Issue #12 counts CPU time, and on an artist's machine the spinning takes a core
from Blender.
"""

from __future__ import annotations

from pathlib import Path

SPINNING_KEY = "session.intra_op.allow_spinning"


def cpu_session(path: str | Path, num_threads: int):
    """An ``onnxruntime.InferenceSession`` for ``path`` on the CPU with ``num_threads`` intra-op
    threads that sleep between calls. Loading errors propagate: callers turn them into their
    own one-sentence errors naming the file."""
    import onnxruntime as ort  # deferred: importing genhmr.detection stays cheap

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry(SPINNING_KEY, "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
