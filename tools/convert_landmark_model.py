"""Convert MediaPipe's BlazePose "full" landmark model to ONNX (run once by a developer).

    . ~/.cache/genhmr/env.sh
    $GENHMR_PYTHON tools/convert_landmark_model.py \
        --convert-python /root/.cache/genhmr/convert-venv/bin/python

Why: the person-box detector hands us boxes and we run the BlazePose landmark network directly
on each person's region (:mod:`genhmr.detection.landmark_model`). MediaPipe's Python APIs do not
take a region from outside, so we run the network ourselves with onnxruntime, which the backend
venv can install next to numpy 1.26 (TensorFlow cannot). The source network is the
``pose_landmark_full.tflite`` shipped inside the installed ``mediapipe`` wheel (Apache-2.0).

The conversion needs TensorFlow + tf2onnx + onnx + onnxruntime, which do not fit the backend
venv, so this script runs in two interpreters: the backend python (finds the wheel's tflite,
prepares test inputs, writes the report) and ``--convert-python`` (a throwaway venv with the
conversion stack), which it calls for the stages marked ``inner``:

1. ``tf2onnx --tflite`` converts the whole graph (no custom ops block it in mediapipe 0.10.21's
   file; all five outputs convert).
2. Post-processing (``onnx``): keep only the outputs the landmarker reads - landmarks (1, 195),
   pose flag (1, 1; the network already applies the sigmoid), heatmap (1, 64, 64, 39) and world
   landmarks (1, 117) - and prune the segmentation branch; give input and outputs stable names;
   make the batch dimension symbolic (one call for several people); store the weights as
   float16 with a Cast to float32 (the tflite stores them as float16 and dequantizes them at
   load, so this is exact and halves the file); order the nodes and name the inner tensors
   canonically (tf2onnx's own names vary between runs).
3. Parity: the same input tensors through ``tf.lite.Interpreter`` on the original tflite and
   ``onnxruntime`` on the result; the max abs difference of every output is printed and must be
   below ``--tolerance``.

The result is byte-for-byte reproducible for a given tf2onnx/onnx version (no dates or paths in
it; two runs checked identical).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "backend" / "genhmr" / "detection" / "assets" / (
    "pose_landmark_full.onnx")
TFLITE_IN_WHEEL = "modules/pose_landmark/pose_landmark_full.tflite"
INPUT_SIZE = 256
# tf2onnx output name -> our name, in MediaPipe's output order; Identity_2 (segmentation) is cut.
OUTPUT_NAMES: dict[str, str] = {
    "Identity": "landmarks",
    "Identity_1": "pose_flag",
    "Identity_3": "heatmap",
    "Identity_4": "world_landmarks",
}
INPUT_NAME = "image"
OPSET = 17


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# inner stages: run by --convert-python (TensorFlow, tf2onnx, onnx, onnxruntime available)
# --------------------------------------------------------------------------------------------
def _inner_postprocess(raw_path: Path, out_path: Path, meta: dict[str, str]) -> None:
    """Cut, rename, make the batch symbolic and store float16 weights (see module docstring)."""
    import onnx

    model = onnx.load(str(raw_path))
    graph = model.graph
    renames = dict(OUTPUT_NAMES)
    renames[graph.input[0].name] = INPUT_NAME

    kept = [o for o in graph.output if o.name in OUTPUT_NAMES]
    del graph.output[:]
    graph.output.extend(kept)

    # Prune nodes that no kept output depends on (the segmentation decoder).
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(list(graph.node)):
        if any(name in needed for name in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    live.reverse()
    del graph.node[:]
    graph.node.extend(live)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]

    rename(graph, renames)
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del graph.value_info[:]  # shapes inferred for batch 1 would contradict the symbolic batch

    store_float16(graph, inits)
    save_canonical(model, out_path, "blazepose_landmark_full", __file__, meta, (
        "BlazePose GHUM 3D landmark model (full) from mediapipe, converted with tf2onnx. "
        "Input 'image': (batch, 256, 256, 3) float32 RGB in [0, 1]. Outputs: 'landmarks' "
        "(batch, 195) = 39 x [x, y, z, visibility logit, presence logit] in 256-px input "
        "coordinates; 'pose_flag' (batch, 1) person-presence probability (sigmoid applied); "
        "'heatmap' (batch, 64, 64, 39) logits; 'world_landmarks' (batch, 117) = 39 x [x, y, z] "
        "metres, hip-centred, in the ROI's rotated axes. License Apache-2.0."))


def rename(graph: Any, renames: dict[str, str]) -> None:
    """Rename tensors (``renames``: old -> new) wherever nodes, inputs and outputs name them."""
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output]:
        value.name = renames.get(value.name, value.name)


def save_canonical(model: Any, out_path: Path, name: str, script: str, meta: dict[str, str],
                   doc: str) -> None:
    """Name the graph's inner tensors canonically (:func:`canonicalise`), set its name, the
    producer (``script``'s file name, no path), ``doc`` and the ``meta`` data (sorted; no dates
    or paths, so the bytes are reproducible), check it and write it to ``out_path``."""
    import onnx

    graph = model.graph
    canonicalise(graph)
    graph.name = name
    graph.doc_string = ""  # tf2onnx writes the absolute source path here
    model.producer_name = f"genhmr tools/{Path(script).name}"
    model.doc_string = doc
    del model.metadata_props[:]
    for key, value in sorted(meta.items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(out_path))


def tf2onnx(python: str, tflite: Path, out_path: Path) -> None:
    """``tf2onnx --tflite`` in the conversion venv (opset :data:`OPSET`); exits with its output
    on failure."""
    done = subprocess.run([python, "-m", "tf2onnx.convert", "--tflite", str(tflite),
                           "--output", str(out_path), "--opset", str(OPSET)],
                          env=inner_env(), capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit("tf2onnx failed (its output is above)")


def store_float16(graph: Any, weights: list[Any]) -> None:
    """Put ``weights`` (initializers, already removed from ``graph``) back into ``graph``, each
    float32 one that float16 holds exactly (every weight that came from a float16 tensor in the
    tflite) stored as float16 and cast back to float32 by a node in front of the graph: the
    same numbers in half the file."""
    from onnx import TensorProto, helper, numpy_helper

    casts = []
    for init in weights:
        array = numpy_helper.to_array(init)
        exact = array.dtype == np.float32 and np.array_equal(
            array.astype(np.float16).astype(np.float32), array)
        if exact and array.size >= 16:
            half = numpy_helper.from_array(array.astype(np.float16), init.name + "__fp16")
            graph.initializer.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name],
                                          name=init.name + "__cast", to=TensorProto.FLOAT))
        else:
            graph.initializer.append(init)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def canonicalise(graph: Any) -> None:
    """Order nodes by a depth-first walk from the outputs and rename every inner tensor, weight
    and node after that order. tf2onnx's generated names and node order vary from run to run
    (they follow Python object ids), so without this two conversions differ in bytes."""
    producer = {out: node for node in graph.node for out in node.output}
    order: list[Any] = []
    seen: set[int] = set()

    def visit(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for name in node.input:
            if name in producer:
                visit(producer[name])
        order.append(node)

    for output in graph.output:
        visit(producer[output.name])
    keep = {v.name for v in [*graph.input, *graph.output]}
    init_by_name = {i.name: i for i in graph.initializer}
    renames: dict[str, str] = {}
    weights: list[Any] = []
    for index, node in enumerate(order):
        for name in node.input:
            if name in init_by_name and name not in renames:
                renames[name] = f"w{len(weights)}"
                weights.append(init_by_name[name])
        for name in node.output:
            if name not in keep:
                renames[name] = f"t{len(renames)}"
        node.name = f"{node.op_type}_{index}"
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for weight in weights:
        weight.name = renames[weight.name]
    kept_nodes = [type(n)() for n in order]  # copies: deleting detaches the originals
    for new, old in zip(kept_nodes, order, strict=True):
        new.CopyFrom(old)
    del graph.node[:]
    graph.node.extend(kept_nodes)
    kept_weights = [type(w)() for w in weights]
    for new, old in zip(kept_weights, weights, strict=True):
        new.CopyFrom(old)
    del graph.initializer[:]
    graph.initializer.extend(kept_weights)


def _inner_parity(tflite_path: Path, onnx_path: Path, inputs_path: Path, report: Path) -> None:
    """Max abs difference of each output, tflite interpreter vs onnxruntime, per input."""
    import onnxruntime as ort
    import tensorflow as tf

    inputs = np.load(inputs_path)
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    out_details = interpreter.get_output_details()
    tfl_names = {d["name"]: d["index"] for d in out_details}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    result: dict[str, dict[str, float]] = {}
    batch = np.stack([inputs[k] for k in inputs.files]).astype(np.float32)
    batched = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {INPUT_NAME: batch}), strict=True))
    for b, key in enumerate(inputs.files):
        x = inputs[key][None].astype(np.float32)
        interpreter.set_tensor(in_index, x)
        interpreter.invoke()
        ours = dict(zip([o.name for o in session.get_outputs()],
                        session.run(None, {INPUT_NAME: x}), strict=True))
        diffs: dict[str, float] = {}
        for tf_name, name in OUTPUT_NAMES.items():
            ref = interpreter.get_tensor(tfl_names[tf_name])
            diffs[name] = float(np.abs(ref - ours[name]).max())
            diffs[name + "_range"] = float(np.abs(ref).max())
            if name == "landmarks":  # x, y only: the values a user sees, in 256-px units
                xy = (ref - ours[name]).reshape(-1, 5)[:, :2]
                diffs["landmarks_xy"] = float(np.abs(xy).max())
            diffs[name + "_batched_vs_single"] = float(
                np.abs(batched[name][b] - ours[name][0]).max())
        diffs["pose_flag_value"] = float(ours["pose_flag"][0, 0])
        result[key] = diffs
    report.write_text(json.dumps(result, indent=1))


# --------------------------------------------------------------------------------------------
# outer driver: run by the backend python (mediapipe, cv2)
# --------------------------------------------------------------------------------------------
def find_tflite(in_wheel: str = TFLITE_IN_WHEEL) -> tuple[Path, str]:
    """A tflite inside the installed mediapipe wheel (path relative to the package; default the
    landmark model), and mediapipe's version."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mediapipe is not installed in this python; run this script with the "
                         "backend venv ($GENHMR_PYTHON)")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / in_wheel
    if not path.is_file():
        raise SystemExit(f"{path} is missing; mediapipe==0.10.21 ships it")
    from importlib.metadata import version

    return path, version("mediapipe")


def _test_inputs(media_dir: Path | None) -> dict[str, np.ndarray]:
    """Inputs for the parity check: square crops around people in the sample media when present
    (realistic activations), plus a seeded noise image and a flat grey one (unusual ones)."""
    rng = np.random.default_rng(0)
    out = {
        "noise": rng.random((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32),
        "grey": np.full((INPUT_SIZE, INPUT_SIZE, 3), 0.5, np.float32),
    }
    if media_dir is None:
        return out
    import cv2

    images: dict[str, np.ndarray | None] = {
        name: cv2.imread(str(media_dir / name)) for name in ("basketball2.png",)}
    capture = cv2.VideoCapture(str(media_dir / "demo.mp4"))
    frame = None
    for _ in range(46):
        ok, frame = capture.read()
        frame = frame if ok else None
    capture.release()
    images["demo.mp4#45"] = frame
    # (image, centre x, centre y, side) in source pixels, made by hand around each person.
    crops = (("basketball2.png", 100, 280, 480), ("basketball2.png", 530, 260, 520),
             ("demo.mp4#45", 650, 265, 480), ("demo.mp4#45", 1510, 750, 500))
    for name, cx, cy, side in crops:
        image = images.get(name)
        if image is None:
            continue
        scale = INPUT_SIZE / side
        matrix = np.array([[scale, 0, INPUT_SIZE / 2 - scale * cx],
                           [0, scale, INPUT_SIZE / 2 - scale * cy]])
        crop = cv2.warpAffine(image, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        out[f"{name}@{cx},{cy},{side}"] = crop[:, :, ::-1].astype(np.float32) / 255.0
    return out


def inner_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the backend's path must not shadow the convert venv's packages
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONHASHSEED"] = "0"  # tf2onnx names constants in set order: fix it, same bytes
    return env


def run_inner(python: str, *args: str, script: str = __file__) -> None:
    """Run ``script --inner args`` (a stage that needs the conversion venv) in ``python``."""
    done = subprocess.run([python, str(Path(script).resolve()), "--inner", *args],
                          env=inner_env(), capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"stage {args[0]} failed in {python} (its output is above)")


def converter_arguments(description: str, output: Path, argv: list[str] | None
                        ) -> argparse.Namespace:
    """The command line both converters share: the conversion venv's python, the output file,
    the parity tolerance, and ``--inner`` (a stage run inside the conversion venv)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--convert-python", help="python of a venv with tensorflow, tf2onnx, "
                        "onnx and onnxruntime (not the backend venv)")
    parser.add_argument("--output", type=Path, default=output)
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest allowed abs difference of an output, relative to that "
                        "output's largest abs value or 1, whichever is larger (float32 summation "
                        "order differs between XNNPACK and onnxruntime)")
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.inner and not args.convert_python:
        parser.error("--convert-python is required")
    return args


def run_stage(inner: list[str], stages: dict[str, Callable[..., None]]) -> None:
    """Run the ``--inner`` stage named first in ``inner`` with the rest as its arguments
    (paths; ``postprocess``'s third is the metadata as JSON)."""
    stage, *rest = inner
    if stage not in stages:
        raise SystemExit(f"unknown stage {stage}")
    if stage == "postprocess":
        stages[stage](Path(rest[0]), Path(rest[1]), json.loads(rest[2]))
    else:
        stages[stage](*(Path(p) for p in rest))


def main(argv: list[str] | None = None) -> int:
    args = converter_arguments(__doc__.split("\n")[0], DEFAULT_OUTPUT, argv)
    if args.inner:
        run_stage(args.inner, {"postprocess": _inner_postprocess, "parity": _inner_parity})
        return 0

    tflite, mp_version = find_tflite()
    media = os.environ.get("GENHMR_MEDIA_DIR")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        raw = tmp / "raw.onnx"
        tf2onnx(args.convert_python, tflite, raw)
        meta = {
            "source": f"mediapipe=={mp_version} wheel: mediapipe/{TFLITE_IN_WHEEL}",
            "source_sha256": sha256_of(tflite),
            "license": "Apache-2.0",
            "input_normalisation": "RGB / 255",
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        staged = tmp / "model.onnx"
        run_inner(args.convert_python, "postprocess", str(raw), str(staged), json.dumps(meta))
        inputs = _test_inputs(Path(media) if media and Path(media).is_dir() else None)
        np.savez(tmp / "inputs.npz", **inputs)
        run_inner(args.convert_python, "parity", str(tflite), str(staged),
                   str(tmp / "inputs.npz"), str(tmp / "parity.json"))
        parity = json.loads((tmp / "parity.json").read_text())
        worst = 0.0
        print(f"source  {tflite} (mediapipe {mp_version}, sha256 {meta['source_sha256']})")
        print("parity: max |tflite - onnx| per output / largest |tflite value| of that output; "
              "xy = landmark x, y only (256-px units); batched run == single run: b")
        for key, diffs in parity.items():
            cells = "  ".join(f"{name} {diffs[name]:.1e}/{diffs[name + '_range']:.3g}"
                              for name in OUTPUT_NAMES.values())
            same = all(diffs[n + "_batched_vs_single"] == 0 for n in OUTPUT_NAMES.values())
            print(f"  {key:30s} flag {diffs['pose_flag_value']:.3f} xy {diffs['landmarks_xy']:.1e}"
                  f"  {cells}  b={'yes' if same else 'NO'}")
            worst = max(worst, *(diffs[n] / max(diffs[n + "_range"], 1.0)
                                 for n in OUTPUT_NAMES.values()))
        if worst > args.tolerance:
            print(f"FAILED: largest relative difference {worst:.2e} > {args.tolerance}")
            return 1
        print(f"largest relative difference {worst:.1e} (tolerance {args.tolerance})")
        shutil.copyfile(staged, args.output)
    print(f"wrote   {args.output} ({args.output.stat().st_size} bytes, sha256 "
          f"{sha256_of(args.output)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
