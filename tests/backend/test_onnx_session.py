"""The detectors' onnxruntime sessions: the thread count asked for, and threads that sleep
between calls (spinning threads cost ~40 % of perception's CPU time; onnx_session's docstring)."""

from __future__ import annotations

import numpy as np
from genhmr.detection import landmark_model, person_boxes
from genhmr.detection.onnx_session import SPINNING_KEY, cpu_session


def test_a_session_does_not_spin_and_uses_the_threads_asked_for():
    session = cpu_session(person_boxes.DEFAULT_MODEL_PATH, 1)
    options = session.get_session_options()
    assert options.get_session_config_entry(SPINNING_KEY) == "0"
    assert options.intra_op_num_threads == 1
    image = np.zeros((1, person_boxes.INPUT_SIZE, person_boxes.INPUT_SIZE, 3), np.float32)
    boxes, scores = session.run(None, {"image": image})
    assert boxes.shape[-1] == 4 and scores.shape[-1] == 2


def test_both_detectors_open_their_models_through_it():
    boxes = person_boxes.PersonBoxDetector(num_threads=2)
    landmarks = landmark_model.RoiLandmarker(num_threads=2)
    for session in (boxes._session, landmarks._session):
        options = session.get_session_options()
        assert options.get_session_config_entry(SPINNING_KEY) == "0"
        assert options.intra_op_num_threads == 2
