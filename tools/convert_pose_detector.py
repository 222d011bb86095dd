"""Convert MediaPipe's BlazePose person detector to ONNX (run once by a developer).

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/convert_pose_detector.py \
        --convert-python /root/.cache/genhmr/convert-venv/bin/python

Why: :class:`genhmr.detection.blazepose_detector.BlazePoseDetector` runs only the detector
network of MediaPipe's pose landmarker, with onnxruntime (see that module for why). The source
is ``pose_detection.tflite`` inside the installed ``mediapipe`` wheel (Apache-2.0). It runs in
the same two interpreters as ``tools/convert_landmark_model.py`` (whose helpers it shares): the
backend python drives and ``--convert-python`` (tensorflow, tf2onnx, onnx, onnxruntime) runs
the stages marked ``inner``:

1. ``densify``: the tflite stores 38 of its weight tensors *sparse* (``--store_sparse_weights``),
   each expanded at load time by a DENSIFY op, which tf2onnx cannot convert. The interpreter
   (without its XNNPACK delegate, which would fold those tensors away) is run once with every
   tensor kept; each DENSIFY op's dense float16 output is written into the model as a plain
   constant buffer (the sparse input gets the same buffer and loses its sparsity, so no tensor
   index moves) and the op is removed. The densified model is checked against the original on
   a noise input.
2. ``tf2onnx --tflite`` converts the densified graph.
3. ``postprocess`` (``onnx``): stable names (input ``image``, outputs ``boxes``, ``scores``),
   weights stored as float16 with a Cast (exact: the tflite holds them as float16), nodes and
   inner tensors named canonically, so the file is byte-for-byte reproducible.
4. ``parity``: the same inputs (letterboxed sample frames, noise, flat grey) through
   ``tf.lite.Interpreter`` on the *original* tflite and onnxruntime on the result; the largest
   difference of each output, relative to that output's largest value, must be below
   ``--tolerance``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_landmark_model import (
    converter_arguments,
    find_tflite,
    rename,
    run_inner,
    run_stage,
    save_canonical,
    sha256_of,
    store_float16,
    tf2onnx,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "backend" / "genhmr" / "detection" / "assets" / "pose_detection.onnx"
TFLITE_IN_WHEEL = "modules/pose_detection/pose_detection.tflite"
INPUT_SIZE = 224
# tf2onnx output name -> our name
OUTPUT_NAMES: dict[str, str] = {"Identity": "boxes", "Identity_1": "scores"}
INPUT_NAME = "image"


# --------------------------------------------------------------------------------------------
# inner stages: run by --convert-python (TensorFlow, tf2onnx, onnx, onnxruntime available)
# --------------------------------------------------------------------------------------------
def _inner_densify(tflite_path: Path, out_path: Path) -> None:
    """Replace every DENSIFY op by its constant dense output (module docstring, step 1)."""
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    plain = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = tf.lite.Interpreter(str(tflite_path), experimental_preserve_all_tensors=True,
                                      experimental_op_resolver_type=plain)
    interpreter.allocate_tensors()
    shape = interpreter.get_input_details()[0]["shape"]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           np.zeros(shape, np.float32))
    interpreter.invoke()

    model = flatbuffer_utils.read_model(str(tflite_path))
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    kept, densified = [], 0
    for op in graph.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.DENSIFY:
            kept.append(op)
            continue
        dense_index, sparse_index = int(op.outputs[0]), int(op.inputs[0])
        dense = interpreter.get_tensor(dense_index)
        tensor = graph.tensors[dense_index]
        if tensor.type != schema.TensorType.FLOAT16 or not np.any(dense):
            raise SystemExit(f"DENSIFY output {tensor.name!r} is not a filled float16 tensor")
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(dense.astype(np.float16).tobytes(), np.uint8)
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
        sparse = graph.tensors[sparse_index]
        sparse.sparsity = None
        sparse.buffer = tensor.buffer
        densified += 1
    graph.operators = kept
    flatbuffer_utils.write_model(model, str(out_path))

    check = tf.lite.Interpreter(str(out_path), experimental_op_resolver_type=plain)
    check.allocate_tensors()
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    for runner in (interpreter, check):
        runner.set_tensor(runner.get_input_details()[0]["index"], x)
        runner.invoke()
    for detail in interpreter.get_output_details():
        a = interpreter.get_tensor(detail["index"])
        b = check.get_tensor(detail["index"])
        if not np.allclose(a, b, rtol=0, atol=1e-5 * max(1.0, float(np.abs(a).max()))):
            raise SystemExit(f"densified output {detail['name']} differs by "
                             f"{np.abs(a - b).max():.3g}")
    print(f"densified {densified} weight tensors")


def _inner_postprocess(raw_path: Path, out_path: Path, meta: dict[str, str]) -> None:
    """Rename, store float16 weights and name canonically (module docstring, step 3)."""
    import onnx

    model = onnx.load(str(raw_path))
    graph = model.graph
    renames = dict(OUTPUT_NAMES)
    renames[graph.input[0].name] = INPUT_NAME
    rename(graph, renames)
    del graph.value_info[:]
    weights = list(graph.initializer)
    del graph.initializer[:]
    store_float16(graph, weights)
    save_canonical(model, out_path, "blazepose_detector", __file__, meta, (
        "BlazePose person detector from mediapipe, converted with tf2onnx. Input 'image': "
        "(1, 224, 224, 3) float32 RGB in [-1, 1], the frame letterboxed. Outputs: 'boxes' "
        "(1, 2254, 12) = per SSD anchor a box (centre x, y, width, height) and 4 keypoints "
        "(x, y), in input pixels relative to the anchor centre; 'scores' (1, 2254, 1) logits. "
        "License Apache-2.0."))


def _inner_parity(tflite_path: Path, onnx_path: Path, inputs_path: Path, report: Path) -> None:
    """Max abs difference of each output, tflite interpreter vs onnxruntime, per input."""
    import onnxruntime as ort
    import tensorflow as tf

    inputs = np.load(inputs_path)
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    tfl = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    result: dict[str, dict[str, float]] = {}
    for key in inputs.files:
        x = inputs[key][None].astype(np.float32)
        interpreter.set_tensor(in_index, x)
        interpreter.invoke()
        ours = dict(zip(names, session.run(None, {INPUT_NAME: x}), strict=True))
        diffs: dict[str, float] = {}
        for tf_name, name in OUTPUT_NAMES.items():
            ref = interpreter.get_tensor(tfl[tf_name])
            diffs[name] = float(np.abs(ref - ours[name]).max())
            diffs[name + "_range"] = float(np.abs(ref).max())
        diffs["best_score"] = float(1.0 / (1.0 + np.exp(-np.clip(ours["scores"].max(), -100,
                                                                  100))))
        result[key] = diffs
    report.write_text(json.dumps(result, indent=1))


# --------------------------------------------------------------------------------------------
# outer driver: run by the backend python (mediapipe, cv2)
# --------------------------------------------------------------------------------------------
def _test_inputs(media_dir: Path | None) -> dict[str, np.ndarray]:
    """Parity inputs: sample frames letterboxed as the detector sees them (real activations),
    plus seeded noise and flat grey."""
    rng = np.random.default_rng(0)
    out = {"noise": rng.uniform(-1, 1, (INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32),
           "grey": np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)}
    if media_dir is None:
        return out
    import cv2
    from genhmr.detection.blazepose_detector import network_input

    sources = {"basketball2.png": (media_dir / "basketball2.png", None),
               "demo.mp4#45": (media_dir / "demo.mp4", 45),
               "cam03.mp4#30": (media_dir / "pose2sim/Demo_MultiPerson/videos/cam03.mp4", 30)}
    for name, (path, index) in sources.items():
        if not path.is_file():
            continue
        if index is None:
            frame = cv2.imread(str(path))
        else:
            capture = cv2.VideoCapture(str(path))
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            capture.release()
            frame = frame if ok else None
        if frame is not None:
            out[name] = network_input(frame)[0]
    return out


def main(argv: list[str] | None = None) -> int:
    args = converter_arguments(__doc__.split("\n")[0], DEFAULT_OUTPUT, argv)
    if args.inner:
        run_stage(args.inner, {"densify": _inner_densify, "postprocess": _inner_postprocess,
                               "parity": _inner_parity})
        return 0

    tflite, mp_version = find_tflite(TFLITE_IN_WHEEL)
    media = os.environ.get("GENHMR_MEDIA_DIR")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        dense = tmp / "dense.tflite"
        run_inner(args.convert_python, "densify", str(tflite), str(dense), script=__file__)
        raw = tmp / "raw.onnx"
        tf2onnx(args.convert_python, dense, raw)
        meta = {
            "source": f"mediapipe=={mp_version} wheel: mediapipe/{TFLITE_IN_WHEEL}",
            "source_sha256": sha256_of(tflite),
            "license": "Apache-2.0",
            "input_normalisation": "(RGB - 127.5) / 127.5, letterboxed, black bars",
        }
        staged = tmp / "model.onnx"
        run_inner(args.convert_python, "postprocess", str(raw), str(staged), json.dumps(meta),
                  script=__file__)
        inputs = _test_inputs(Path(media) if media and Path(media).is_dir() else None)
        np.savez(tmp / "inputs.npz", **inputs)
        run_inner(args.convert_python, "parity", str(tflite), str(staged),
                  str(tmp / "inputs.npz"), str(tmp / "parity.json"), script=__file__)
        parity = json.loads((tmp / "parity.json").read_text())
        worst = 0.0
        print(f"source  {tflite} (mediapipe {mp_version}, sha256 {meta['source_sha256']})")
        print("parity: max |tflite - onnx| per output / largest |tflite value| of that output")
        for key, diffs in parity.items():
            cells = "  ".join(f"{name} {diffs[name]:.1e}/{diffs[name + '_range']:.3g}"
                              for name in OUTPUT_NAMES.values())
            print(f"  {key:18s} best score {diffs['best_score']:.3f}  {cells}")
            worst = max(worst, *(diffs[n] / max(diffs[n + "_range"], 1.0)
                                 for n in OUTPUT_NAMES.values()))
        if worst > args.tolerance:
            print(f"FAILED: largest relative difference {worst:.2e} > {args.tolerance}")
            return 1
        print(f"largest relative difference {worst:.1e} (tolerance {args.tolerance})")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged, args.output)
    print(f"wrote   {args.output} ({args.output.stat().st_size} bytes, sha256 "
          f"{sha256_of(args.output)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
