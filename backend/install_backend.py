#!/usr/bin/env python3
"""Create (or update) the Python environment the GenHMR backend runs in.

STDLIB ONLY: this script runs under Blender's own bundled Python 3.11 (the add-on's
"Set up backend" button starts it as a subprocess) and from ``tools/setup.sh``.

    python backend/install_backend.py --venv DIR [--wheels DIR] [--requirements FILE ...] [--json]

Steps:

1. check  - the interpreter is CPython 3.11 (the pinned wheels exist for 3.11 only).
2. venv   - create the virtual environment with this interpreter, or reuse it. A stamp file inside
            it records the hash of the requirement files; when it matches, the pip steps are
            skipped, so a second run takes a second or two.
3. pip    - upgrade pip only when it is older than MIN_PIP.
4. install- ``pip install -r backend/requirements.txt -c backend/constraints.txt``; with
            ``--wheels DIR`` from that folder only (``--no-index --find-links DIR``) for studios
            without internet.
5. opencv - mediapipe depends on opencv-contrib-python (GUI build) while the backend pins
            opencv-python-headless; both install the same ``cv2`` package and the last one
            written wins. This step re-installs the headless build last (``--no-deps``) so ``cv2``
            is the headless one and needs no X11/OpenGL libraries; pip still sees mediapipe's
            requirement satisfied.
6. task   - build the multi-person MediaPipe PoseLandmarker ``.task`` bundle with the venv's
            Python: ``from genhmr.detection import ensure_task_bundle``.

With ``--json`` every line on stdout is one JSON object:

    {"type": "progress", "step": str, "message": str, "fraction": float}   (0..1, overall)
    {"type": "done", "python": "<venv python>", "task_bundle": str | null}
    {"type": "error", "message": str, "step": str}                         (exit code != 0)

Without ``--json`` the same events are printed as readable lines. Exit codes: 0 done, 1 error,
2 bad usage or wrong interpreter, 3 the task bundle could not be built (environment is installed),
130 cancelled (SIGINT/SIGTERM; the running pip is terminated).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

BACKEND_DIR = Path(__file__).resolve().parent
ROOT_DIR = BACKEND_DIR.parent  # repository root == Blender extension root
DEFAULT_REQUIREMENTS = BACKEND_DIR / "requirements.txt"
DEFAULT_CONSTRAINTS = BACKEND_DIR / "constraints.txt"

REQUIRED_PYTHON = (3, 11)
MIN_PIP = (23, 0)
STAMP_NAME = "genhmr-install.json"
STAMP_VERSION = 1
HEADLESS_OPENCV = "opencv-python-headless"
CONTRIB_OPENCV = "opencv-contrib-python"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_TASK_BUNDLE = 3
EXIT_CANCELLED = 130

# Overall progress: each step owns a slice of [0, 1].
STEP_RANGES: dict[str, tuple[float, float]] = {
    "check": (0.0, 0.01),
    "venv": (0.01, 0.06),
    "pip": (0.06, 0.08),
    "install": (0.08, 0.88),
    "opencv": (0.88, 0.90),
    "task": (0.90, 1.0),
}
# Inside "install": share of the slice for resolving/downloading ("Collecting ..." lines);
# the rest is the silent unpacking phase after "Installing collected packages".
COLLECT_SHARE = 0.6
INSTALL_TAU_S = 60.0  # time constant of the creeping progress while pip unpacks wheels

TASK_BUNDLE_CODE = "from genhmr.detection import ensure_task_bundle; print(ensure_task_bundle())"


class InstallError(Exception):
    """A failure with a message meant for the artist; ``step`` says where it happened."""

    def __init__(self, message: str, step: str = "", code: int = EXIT_ERROR):
        super().__init__(message)
        self.message = message
        self.step = step
        self.code = code


# --------------------------------------------------------------------------------------------
# Requirement files: hashing and pins (pure)
# --------------------------------------------------------------------------------------------

_INCLUDE_RE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$")
_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)")


def normalize_name(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalized_lines(text: str) -> list[str]:
    """Lines that matter to pip: comments, blank lines and trailing spaces removed."""
    out = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            out.append(line)
    return out


def expand_requirement_files(files: list[Path]) -> list[Path]:
    """The given files plus every file they include with -r/-c, in a stable order."""
    seen: list[Path] = []

    def visit(path: Path) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.append(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InstallError(f"cannot read requirement file {path}: {exc}", "check") from exc
        for line in normalized_lines(text):
            m = _INCLUDE_RE.match(line)
            if m:
                visit(path.parent / m.group(2))

    for f in files:
        visit(Path(f))
    return seen


def requirements_hash(files: list[Path]) -> str:
    """sha256 over the normalized contents of the files and all files they include.

    Only the contents count (not the paths), so the same pins give the same hash in every clone,
    and editing a comment does not force a reinstall.
    """
    h = hashlib.sha256()
    h.update(f"genhmr-install-v{STAMP_VERSION}\n".encode())
    for path in expand_requirement_files(files):
        h.update(b"--file--\n")
        for line in normalized_lines(path.read_text(encoding="utf-8")):
            if _INCLUDE_RE.match(line):
                continue  # the included file itself is hashed; its path does not matter
            h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements/constraints text, keyed by normalized name."""
    pins = {}
    for line in normalized_lines(text):
        m = _PIN_RE.match(line)
        if m:
            pins[normalize_name(m.group(1))] = m.group(2)
    return pins


def count_expected_packages(files: list[Path]) -> int:
    """Rough number of packages pip will collect: the distinct pinned names in all files."""
    names: set[str] = set()
    for path in expand_requirement_files(files):
        names.update(parse_pins(path.read_text(encoding="utf-8")))
    return max(len(names), 1)


def make_stamp(req_hash: str, python_version: str) -> dict[str, Any]:
    return {"stamp_version": STAMP_VERSION, "requirements_hash": req_hash, "python": python_version}


def read_stamp(venv: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((venv / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_stamp(venv: Path, stamp: dict[str, Any]) -> None:
    tmp = venv / (STAMP_NAME + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, venv / STAMP_NAME)


def stamp_matches(venv: Path, req_hash: str) -> bool:
    stamp = read_stamp(venv)
    return (
        stamp is not None
        and stamp.get("stamp_version") == STAMP_VERSION
        and stamp.get("requirements_hash") == req_hash
    )


def venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def parse_version(text: str) -> tuple[int, ...]:
    """Leading numeric release of a version string: '23.2.1' -> (23, 2, 1), '24.0b1' -> (24, 0)."""
    parts = []
    for piece in text.strip().split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group(0)))
        if m.group(0) != piece:
            break
    return tuple(parts)


def parse_pip_version(output: str) -> tuple[int, ...]:
    """``pip --version`` output ('pip 23.2.1 from ... (python 3.11)') -> (23, 2, 1)."""
    m = re.search(r"pip\s+(\S+)", output)
    return parse_version(m.group(1)) if m else ()


def index_args(wheels: Path | None) -> list[str]:
    """pip arguments selecting where packages come from."""
    if wheels is None:
        return []
    return ["--no-index", "--find-links", str(wheels)]


# --------------------------------------------------------------------------------------------
# Events (pure formatting)
# --------------------------------------------------------------------------------------------


# -- the torch build ---------------------------------------------------------------------------
# PyPI's Linux torch wheels are the CUDA build: with their nvidia-* and triton dependencies about
# 3.4 GB more on disk than the CPU build, which an artist without an NVIDIA GPU never uses. The
# CPU build comes from PyTorch's own index (or one the user sets); on Windows and macOS PyPI's
# torch already is a CPU (or MPS) build, and an offline wheel folder holds whatever build the
# studio put in it.
TORCH_BUILDS = ("auto", "cpu", "cuda")
DEFAULT_TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What each build costs, for the message before installing (docs/licenses.md, "Install size"):
# the CPU wheel measured here (192 MB download, 757 MB installed); the CUDA build's extra
# nvidia-* (2.7 GB) and triton (0.7 GB) measured by the team on a fresh Linux machine (PyPI's
# CUDA wheels cannot be fetched here).
TORCH_SIZE_NOTE = {"cpu": "about 190 MB to download, 0.8 GB on disk",
                   "cuda": "about 4 GB more on disk than the CPU build (NVIDIA libraries)"}


def has_nvidia_gpu(driver_file: Path = Path("/proc/driver/nvidia/version"),
                   which: Any = shutil.which) -> bool:
    """An NVIDIA driver is installed (Linux exposes its version file; everywhere nvidia-smi)."""
    return driver_file.is_file() or which("nvidia-smi") is not None


def resolve_torch_build(choice: str, nvidia: bool) -> str:
    """"auto" -> "cuda" with an NVIDIA GPU, else "cpu"; "cpu" and "cuda" stay."""
    if choice not in TORCH_BUILDS:
        raise InstallError(f"unknown torch build '{choice}' (choose {', '.join(TORCH_BUILDS)})",
                           "check", EXIT_USAGE)
    return ("cuda" if nvidia else "cpu") if choice == "auto" else choice


def torch_install_cmd(python: Path | str, build: str, pin: str | None, index: str,
                      wheels: Path | None, platform: str = sys.platform) -> list[str] | None:
    """The pip command that puts the CPU build of torch in first, or None where the main
    install already gets the right build (CUDA, Windows/macOS, offline wheels, no pin).

    It asks for the exact local version (``torch==X+cpu``) with the CPU index as an extra index,
    so torch's own dependencies still come from the user's usual index, and the main install
    then finds ``torch==X`` satisfied by ``X+cpu`` (PEP 440 ignores the local label there)."""
    if build != "cpu" or wheels is not None or pin is None or not platform.startswith("linux"):
        return None
    return [str(python), "-m", "pip", "install", "--progress-bar", "off", "--retries", "1",
            "--timeout", "20", f"torch=={pin}+cpu", "--extra-index-url", index]


def overall_fraction(step: str, local: float) -> float:
    lo, hi = STEP_RANGES.get(step, (0.0, 1.0))
    local = min(max(local, 0.0), 1.0)
    return round(lo + (hi - lo) * local, 4)


def progress_event(step: str, message: str, fraction: float) -> dict[str, Any]:
    return {
        "type": "progress",
        "step": step,
        "message": message,
        "fraction": round(min(max(float(fraction), 0.0), 1.0), 4),
    }


def done_event(python: Path | str, task_bundle: str | None = None) -> dict[str, Any]:
    return {"type": "done", "python": str(python), "task_bundle": task_bundle}


def error_event(message: str, step: str = "") -> dict[str, Any]:
    return {"type": "error", "message": message, "step": step}


def format_human(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind == "progress":
        pct = round(100 * event["fraction"])
        return f"[{pct:3d}%] {event['step']}: {event['message']}"
    if kind == "done":
        line = f"[100%] done: backend python is {event['python']}"
        if event.get("task_bundle"):
            line += f"\n       task bundle: {event['task_bundle']}"
        return line
    if kind == "error":
        where = f" ({event['step']})" if event.get("step") else ""
        return f"ERROR{where}: {event['message']}"
    return json.dumps(event)


class Reporter:
    """Writes events to ``stream`` as JSON lines or human-readable lines, flushed at once."""

    def __init__(self, json_mode: bool, stream: IO[str] | None = None):
        self.json_mode = json_mode
        self.stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        text = json.dumps(event) if self.json_mode else format_human(event)
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def progress(self, step: str, message: str, local: float = 0.0) -> None:
        self.emit(progress_event(step, message, overall_fraction(step, local)))


# --------------------------------------------------------------------------------------------
# pip output -> progress (pure state machine)
# --------------------------------------------------------------------------------------------


class PipProgress:
    """Turns pip's output lines into a rough local fraction (0..1) of the install step.

    Collecting phase: each ``Collecting X`` / ``Processing path/X-1.0-...whl`` (local files) /
    ``Requirement already satisfied: X`` line counts one package (once) of ``expected``; it
    fills COLLECT_SHARE of the step. After ``Installing collected packages: a, b, c`` pip unpacks
    silently (torch and bpy take a minute), so the fraction creeps towards the end with a time
    constant; ``Successfully installed`` completes it.
    """

    def __init__(self, expected: int):
        self.expected = max(int(expected), 1)
        self.collected: list[str] = []
        self.to_install: list[str] = []
        self.phase = "collect"
        self.install_started: float | None = None
        self.fraction = 0.0
        self.errors: list[str] = []

    @staticmethod
    def _requirement_name(spec: str) -> str:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        return m.group(1) if m else spec.strip()

    def feed(self, line: str, now: float | None = None) -> str | None:
        """Consume one pip output line; returns a progress message worth showing, or None."""
        text = line.rstrip()
        stripped = text.strip()
        if not stripped:
            return None
        if stripped.startswith("ERROR:") or stripped.startswith("error:"):
            self.errors.append(stripped)
            return None
        if stripped.startswith("Collecting "):
            name = self._requirement_name(stripped[len("Collecting ") :])
            self._collect(name)
            return f"collecting {name} ({len(self.collected)}/~{self.expected})"
        if stripped.startswith("Processing "):
            # a local file or a file:// index: pip prints this instead of "Collecting"
            target = stripped[len("Processing ") :].split(" (from", 1)[0].strip()
            name = target.replace("\\", "/").rstrip("/").split("/")[-1].split("-", 1)[0]
            self._collect(name)
            return f"collecting {name} ({len(self.collected)}/~{self.expected})"
        if stripped.startswith("Requirement already satisfied:"):
            name = self._requirement_name(stripped.split(":", 1)[1])
            self._collect(name)
            return f"already installed: {name}"
        if stripped.startswith("Downloading ") or stripped.startswith("Using cached "):
            verb = "downloading" if stripped.startswith("Downloading ") else "cached"
            what = stripped.split(" ", 2)[-1] if verb == "cached" else stripped.split(" ", 1)[1]
            return f"{verb} {what.split('/')[-1]}"
        if stripped.startswith("Installing collected packages:"):
            names = [n.strip() for n in stripped.split(":", 1)[1].split(",") if n.strip()]
            self.to_install = names
            self.phase = "install"
            self.install_started = time.monotonic() if now is None else now
            self.fraction = max(self.fraction, COLLECT_SHARE)
            return f"installing {len(names)} packages (torch and bpy take a while)"
        if stripped.startswith("Attempting uninstall:"):
            return f"replacing {stripped.split(':', 1)[1].strip()}"
        if stripped.startswith("Successfully installed"):
            self.phase = "done"
            self.fraction = 1.0
            n = len(stripped.split()) - 2
            return f"installed {n} packages"
        return None

    def _collect(self, name: str) -> None:
        if normalize_name(name) not in {normalize_name(n) for n in self.collected}:
            self.collected.append(name)
        self._set_collect_fraction()

    def _set_collect_fraction(self) -> None:
        if self.phase == "collect":
            f = COLLECT_SHARE * min(len(self.collected) / self.expected, 1.0)
            self.fraction = max(self.fraction, f)

    def tick(self, now: float) -> str | None:
        """Called periodically while pip is silent; advances the unpacking phase."""
        if self.phase != "install" or self.install_started is None:
            return None
        elapsed = max(now - self.install_started, 0.0)
        creep = 1.0 - math.exp(-elapsed / INSTALL_TAU_S)
        self.fraction = max(self.fraction, COLLECT_SHARE + (0.98 - COLLECT_SHARE) * creep)
        return f"installing {len(self.to_install)} packages ({int(elapsed)} s)"


# --------------------------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------------------------


class Runner:
    """Runs child processes; remembers the current one so a signal can terminate it."""

    def __init__(self) -> None:
        self.current: subprocess.Popen[str] | None = None
        self.cancelled = False

    @staticmethod
    def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        # Blender (or a shell) may carry settings that break a venv interpreter.
        for key in ("PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__"):
            env.pop(key, None)
        env.pop("PYTHONPATH", None)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        env["PIP_NO_INPUT"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env.setdefault("PIP_PROGRESS_BAR", "off")
        if extra:
            env.update(extra)
        return env

    def _popen(self, cmd: list[str], env: dict[str, str] | None, bufsize: int = -1
               ) -> subprocess.Popen[str]:
        """A child with stdout and stderr merged into one text pipe and no stdin."""
        return subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=bufsize,
            env=env if env is not None else self.child_env(),
        )

    def run(
        self, cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion, capturing stdout+stderr together."""
        proc = self._popen(cmd, env)
        self.current = proc
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise InstallError(f"{' '.join(cmd[:3])} ... did not finish in {timeout} s") from None
        finally:
            self.current = None
        if self.cancelled:
            raise InstallError("cancelled", code=EXIT_CANCELLED)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, "")

    def stream(
        self,
        cmd: list[str],
        on_line: Any,
        on_tick: Any = None,
        tick_s: float = 5.0,
        env: dict[str, str] | None = None,
    ) -> tuple[int, list[str]]:
        """Run, calling on_line(line) per output line and on_tick(now) when silent for tick_s."""
        proc = self._popen(cmd, env, bufsize=1)
        self.current = proc
        lines: queue.Queue[str | None] = queue.Queue()
        tail: deque[str] = deque(maxlen=40)

        def pump() -> None:
            assert proc.stdout is not None
            for ln in proc.stdout:
                lines.put(ln)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        last = time.monotonic()
        try:
            while True:
                try:
                    item = lines.get(timeout=1.0)
                except queue.Empty:
                    now = time.monotonic()
                    if on_tick is not None and now - last >= tick_s:
                        on_tick(now)
                        last = now
                    continue
                if item is None:
                    break
                tail.append(item.rstrip("\n"))
                on_line(item)
            proc.wait()
        finally:
            self.current = None
        if self.cancelled:
            raise InstallError("cancelled", code=EXIT_CANCELLED)
        return proc.returncode, list(tail)

    def terminate(self) -> None:
        self.cancelled = True
        proc = self.current
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()


def has_ensurepip() -> bool:
    import importlib.util

    return importlib.util.find_spec("ensurepip") is not None


def base_pip_version() -> tuple[int, ...]:
    """Version of pip importable by *this* interpreter, () when there is none."""
    try:
        from importlib.metadata import version
    except ImportError:  # pragma: no cover
        return ()
    try:
        return parse_version(version("pip"))
    except Exception:
        return ()


class FileLock:
    """Exclusive lock on ``path`` (fcntl on POSIX, msvcrt on Windows), blocking."""

    def __init__(self, path: Path):
        self.path = path
        self.fh: IO[str] | None = None

    def acquire(self, on_wait: Any = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")  # noqa: SIM115 - held for the lifetime of the install
        if os.name == "nt":
            import msvcrt

            waited = False
            while True:
                try:
                    self.fh.seek(0)
                    msvcrt.locking(self.fh.fileno(), msvcrt.LK_NBLCK, 1)
                    return
                except OSError:
                    if not waited and on_wait:
                        on_wait()
                    waited = True
                    time.sleep(1.0)
        else:
            import fcntl

            try:
                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                if on_wait:
                    on_wait()
                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fh is None:
            return
        try:
            if os.name == "nt":
                import msvcrt

                self.fh.seek(0)
                msvcrt.locking(self.fh.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        except OSError:
            pass
        self.fh.close()
        self.fh = None


# --------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------


class Installer:
    def __init__(self, args: argparse.Namespace, reporter: Reporter, runner: Runner):
        self.args = args
        self.rep = reporter
        self.runner = runner
        self.venv: Path = Path(args.venv).expanduser().absolute()
        self.py = venv_python(self.venv)
        self.wheels: Path | None = (
            Path(args.wheels).expanduser().absolute() if args.wheels else None
        )
        self.requirements = [Path(p).expanduser().absolute() for p in args.requirements]
        self.constraints = [Path(p).expanduser().absolute() for p in args.constraints]
        self.torch_build = resolve_torch_build(args.torch, has_nvidia_gpu())

    # -- check ------------------------------------------------------------------------------
    def check(self) -> str:
        self.rep.progress(
            "check", f"interpreter {sys.executable} (Python {sys.version.split()[0]})"
        )
        if sys.version_info[:2] != REQUIRED_PYTHON and not self.args.any_python:
            want = ".".join(map(str, REQUIRED_PYTHON))
            raise InstallError(
                f"Python {want} is required (the pinned wheels are built for it), but this is "
                f"Python {sys.version.split()[0]} at {sys.executable}. Run this script with "
                f"Blender 4.2-5.0's bundled Python or another Python {want}.",
                "check",
                EXIT_USAGE,
            )
        for f in self.requirements + self.constraints:
            if not f.is_file():
                raise InstallError(f"requirement file not found: {f}", "check", EXIT_USAGE)
        if self.wheels is not None and not self.wheels.is_dir():
            raise InstallError(f"wheel folder not found: {self.wheels}", "check", EXIT_USAGE)
        # A different torch build is a different environment: the stamp says which.
        files_hash = requirements_hash(self.requirements + self.constraints)
        return f"{files_hash}+torch-{self.torch_build}"

    # -- venv -------------------------------------------------------------------------------
    def python_works(self) -> tuple[bool, str]:
        if not self.py.exists():
            return False, "missing"
        try:
            res = self.runner.run(
                [str(self.py), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                timeout=60,
            )
        except OSError as exc:
            return False, str(exc)
        return res.returncode == 0, res.stdout.strip()

    def ensure_venv(self) -> bool:
        """Create the venv when needed. Returns True when it was created now."""
        if self.py.exists():
            ok, out = self.python_works()
            want = ".".join(map(str, REQUIRED_PYTHON))
            if not ok or (out != want and not self.args.any_python):
                raise InstallError(
                    f"the environment at {self.venv} is broken or not Python {want} "
                    f"({out or 'it does not start'}). Delete that folder and run the set-up again.",
                    "venv",
                )
            self.rep.progress("venv", f"reusing {self.venv}", 1.0)
            return False
        if self.venv.exists() and any(self.venv.iterdir()):
            raise InstallError(
                f"{self.venv} exists but is not a Python environment (no {self.py.name}); "
                "choose an empty or new folder.",
                "venv",
            )
        self.rep.progress("venv", f"creating {self.venv}", 0.0)
        ensurepip = has_ensurepip() and not self.args.no_ensurepip
        cmd = [sys.executable, "-m", "venv"]
        if not ensurepip:
            pip_v = base_pip_version()
            if pip_v < (22, 3):
                raise InstallError(
                    "this Python has no 'ensurepip' module (some Linux distributions and custom "
                    "Blender builds remove it) and no pip >= 22.3 to bootstrap one, so it cannot "
                    f"create an environment with pip: {sys.executable}. Use a Blender download "
                    "from blender.org, or install your distribution's python3.11-venv package.",
                    "venv",
                )
            cmd.append("--without-pip")
        cmd.append(str(self.venv))
        try:
            res = self.runner.run(cmd, timeout=600)
        except OSError as exc:
            raise InstallError(f"could not run {sys.executable} -m venv: {exc}", "venv") from exc
        if res.returncode != 0 or not self.py.exists():
            hint = ""
            if "ensurepip" in res.stdout:
                hint = (
                    " This Python's 'ensurepip' does not work; install your distribution's "
                    "python3.11-venv package or use Blender's own Python."
                )
            raise InstallError(
                f"creating the environment at {self.venv} failed:\n{res.stdout.strip()[-2000:]}"
                + hint,
                "venv",
            )
        if not ensurepip:
            self.rep.progress("venv", "no ensurepip: installing pip with this Python's pip", 0.5)
            res = self.runner.run(
                [sys.executable, "-m", "pip", "--python", str(self.py), "install", "pip"]
                + index_args(self.wheels),
                timeout=900,
            )
            if res.returncode != 0:
                raise InstallError(
                    "this Python has no 'ensurepip' and bootstrapping pip into the new "
                    f"environment failed:\n{res.stdout.strip()[-2000:]}",
                    "venv",
                )
        self.rep.progress("venv", f"created {self.venv}", 1.0)
        return True

    # -- pip --------------------------------------------------------------------------------
    def ensure_pip(self) -> None:
        res = self.runner.run([str(self.py), "-m", "pip", "--version"], timeout=120)
        version = parse_pip_version(res.stdout) if res.returncode == 0 else ()
        if version and version >= MIN_PIP:
            self.rep.progress("pip", f"pip {'.'.join(map(str, version))} is recent enough", 1.0)
            return
        want = ".".join(map(str, MIN_PIP))
        self.rep.progress("pip", f"upgrading pip to >= {want}", 0.0)
        res = self.runner.run(
            [str(self.py), "-m", "pip", "install", "--upgrade", f"pip>={want}"]
            + index_args(self.wheels),
            timeout=900,
        )
        if res.returncode != 0:
            raise InstallError(f"upgrading pip failed:\n{res.stdout.strip()[-2000:]}", "pip")
        self.rep.progress("pip", "pip upgraded", 1.0)

    # -- install ----------------------------------------------------------------------------
    def pip_install_cmd(self) -> list[str]:
        cmd = [str(self.py), "-m", "pip", "install", "--progress-bar", "off"]
        cmd += index_args(self.wheels)
        for r in self.requirements:
            cmd += ["-r", str(r)]
        for c in self.constraints:
            cmd += ["-c", str(c)]
        return cmd

    def install_torch(self) -> None:
        """The CPU build of torch before everything else, where it needs its own index. An
        unreachable index is not fatal: the main install then takes torch from the usual one
        (on some mirrors that is the CPU build anyway), and the message says so."""
        pins: dict[str, str] = {}
        for f in expand_requirement_files(self.requirements):
            pins.update(parse_pins(f.read_text(encoding="utf-8")))
        cmd = torch_install_cmd(self.py, self.torch_build, pins.get("torch"),
                                self.args.torch_index, self.wheels)
        size = TORCH_SIZE_NOTE[self.torch_build] if self.wheels is None else "from the folder"
        self.rep.progress("install", f"torch: the {self.torch_build.upper()} build ({size})",
                          0.0)
        if cmd is None:
            return
        res = self.runner.run(cmd, timeout=1800)
        if res.returncode != 0:
            self.rep.progress("install", f"the CPU index {self.args.torch_index} did not give "
                                         "torch; taking it from the usual index", 0.0)

    def install(self) -> None:
        self.install_torch()
        expected = count_expected_packages(self.requirements)
        state = PipProgress(expected)
        source = f"wheels in {self.wheels}" if self.wheels else "the package index"
        self.rep.progress("install", f"installing pinned packages from {source}", 0.0)

        def on_line(line: str) -> None:
            msg = state.feed(line)
            if msg:
                self.rep.progress("install", msg, state.fraction)

        def on_tick(now: float) -> None:
            msg = state.tick(now)
            if msg:
                self.rep.progress("install", msg, state.fraction)

        try:
            code, tail = self.runner.stream(self.pip_install_cmd(), on_line, on_tick)
        except OSError as exc:
            raise InstallError(f"could not run pip: {exc}", "install") from exc
        if code != 0:
            detail = "\n".join(state.errors[-10:]) or "\n".join(tail[-15:])
            hint = ""
            if self.wheels is not None:
                hint = f"\n(offline install: is every pinned wheel in {self.wheels}?)"
            raise InstallError(f"pip install failed (exit {code}):\n{detail}{hint}", "install")
        self.rep.progress("install", "packages installed", 1.0)

    # -- opencv -----------------------------------------------------------------------------
    _OPENCV_PROBE = (
        "import importlib.metadata as m, importlib.util as u, json, pathlib, re\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except Exception: return None\n"
        "s = u.find_spec('cv2'); headless = None\n"
        "if s and s.origin:\n"
        "    p = pathlib.Path(s.origin).parent / 'version.py'\n"
        "    if p.exists():\n"
        "        t = p.read_text()\n"
        "        headless = bool(re.search(r'^headless\\s*=\\s*True', t, re.M))\n"
        f"print(json.dumps({{'headless_dist': v({HEADLESS_OPENCV!r}), "
        f"'contrib_dist': v({CONTRIB_OPENCV!r}), 'cv2_headless': headless}}))\n"
    )

    def fix_opencv(self) -> None:
        res = self.runner.run([str(self.py), "-c", self._OPENCV_PROBE], timeout=120)
        try:
            info = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise InstallError(
                f"could not inspect OpenCV:\n{res.stdout[-2000:]}", "opencv"
            ) from None
        version = info.get("headless_dist")
        if not version:
            self.rep.progress("opencv", "opencv-python-headless not requested: skipped", 1.0)
            return
        if info.get("cv2_headless"):
            self.rep.progress("opencv", f"cv2 is the headless build {version}", 1.0)
            return
        self.rep.progress("opencv", "cv2 was overwritten by opencv-contrib-python: restoring", 0.2)
        cmd = [
            str(self.py), "-m", "pip", "install", "--progress-bar", "off", "--no-deps",
            "--force-reinstall", f"{HEADLESS_OPENCV}=={version}",
        ] + index_args(self.wheels)  # fmt: skip
        res = self.runner.run(cmd, timeout=900)
        if res.returncode != 0:
            raise InstallError(
                f"re-installing {HEADLESS_OPENCV} failed:\n{res.stdout[-2000:]}", "opencv"
            )
        self.rep.progress("opencv", f"cv2 is the headless build {version}", 1.0)

    # -- task bundle ------------------------------------------------------------------------
    def build_task_bundle(self) -> str:
        self.rep.progress("task", "building the multi-person MediaPipe pose task bundle", 0.0)
        pythonpath = os.pathsep.join([str(ROOT_DIR), str(ROOT_DIR / "backend")])
        env = self.runner.child_env({"PYTHONPATH": pythonpath})
        res = self.runner.run([str(self.py), "-c", TASK_BUNDLE_CODE], env=env, timeout=900)
        out = res.stdout.strip()
        if res.returncode != 0:
            if re.search(r"No module named '?genhmr(\.detection)?'?", out) or (
                "cannot import name 'ensure_task_bundle'" in out
            ):
                msg = (
                    "the backend code that builds the pose task bundle is missing: "
                    f"genhmr.detection.ensure_task_bundle could not be imported from {ROOT_DIR}. "
                    "The Python environment itself is installed; update the add-on/checkout."
                )
            else:
                msg = "building the pose task bundle failed:\n" + out[-3000:]
            raise InstallError(msg, "task", EXIT_TASK_BUNDLE)
        path = out.splitlines()[-1].strip() if out else ""
        self.rep.progress("task", f"task bundle ready: {path}", 1.0)
        return path

    # -- all ----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        req_hash = self.check()
        lock = FileLock(self.venv.parent / (self.venv.name + ".lock"))
        lock.acquire(
            on_wait=lambda: self.rep.progress("venv", "waiting for another installer to finish")
        )
        try:
            created = self.ensure_venv()
            if not created and stamp_matches(self.venv, req_hash) and not self.args.force:
                self.rep.progress("install", "requirements unchanged: nothing to install", 1.0)
            else:
                # Any change invalidates the stamp first, so an interrupted run is redone.
                (self.venv / STAMP_NAME).unlink(missing_ok=True)
                self.ensure_pip()
                self.install()
                self.fix_opencv()
                write_stamp(self.venv, make_stamp(req_hash, sys.version.split()[0]))
        finally:
            lock.release()
        task_bundle = None
        if not self.args.skip_task_bundle:
            task_bundle = self.build_task_bundle()
        return done_event(self.py, task_bundle)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="install_backend.py",
        description="Create or update the GenHMR backend Python environment (stdlib only).",
    )
    p.add_argument("--venv", help="environment folder to create or reuse")
    p.add_argument("--wheels", help="install offline from this folder of wheels only")
    p.add_argument(
        "--requirements",
        nargs="+",
        action="extend",
        metavar="FILE",
        help=f"requirement files (default: {DEFAULT_REQUIREMENTS.relative_to(ROOT_DIR)})",
    )
    p.add_argument(
        "--constraints",
        nargs="+",
        action="extend",
        metavar="FILE",
        help=f"constraints files (default: {DEFAULT_CONSTRAINTS.relative_to(ROOT_DIR)})",
    )
    p.add_argument("--no-constraints", action="store_true", help="install without constraints")
    p.add_argument("--torch", choices=TORCH_BUILDS, default="auto",
                   help="torch build: auto (CUDA only with an NVIDIA GPU), cpu, cuda")
    p.add_argument("--torch-index", default=DEFAULT_TORCH_CPU_INDEX, metavar="URL",
                   help="package index of the CPU build of torch (Linux)")
    p.add_argument("--json", action="store_true", help="print JSON-lines events on stdout")
    p.add_argument(
        "--skip-task-bundle", action="store_true", help="do not build the MediaPipe task bundle"
    )
    p.add_argument("--force", action="store_true", help="run pip even when the stamp matches")
    p.add_argument(
        "--print-hash",
        action="store_true",
        help="print the hash of the requirement (and constraints) files and exit",
    )
    # Testing hooks, not for users.
    p.add_argument("--no-ensurepip", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--any-python", action="store_true", help=argparse.SUPPRESS)
    return p


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    if not args.requirements:
        args.requirements = [str(DEFAULT_REQUIREMENTS)]
    if args.no_constraints:
        args.constraints = []
    elif not args.constraints:
        args.constraints = [str(DEFAULT_CONSTRAINTS)] if DEFAULT_CONSTRAINTS.is_file() else []
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = resolve_args(parser.parse_args(argv))
    reporter = Reporter(args.json)

    if args.print_hash:
        files = [Path(p).absolute() for p in args.requirements + args.constraints]
        try:
            print(requirements_hash(files))
        except InstallError as exc:
            print(f"ERROR: {exc.message}", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK
    if not args.venv:
        reporter.emit(error_event("--venv DIR is required", "check"))
        return EXIT_USAGE

    runner = Runner()

    def on_signal(signum: int, _frame: Any) -> None:
        runner.terminate()
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread / unsupported
                signal.signal(sig, on_signal)

    started = time.monotonic()
    try:
        done = Installer(args, reporter, runner).run()
    except InstallError as exc:
        reporter.emit(error_event(exc.message, exc.step))
        return exc.code
    except KeyboardInterrupt:
        reporter.emit(error_event("cancelled", ""))
        return EXIT_CANCELLED
    except Exception as exc:  # an unexpected bug: still one clean error event
        import traceback

        reporter.emit(error_event(f"unexpected {type(exc).__name__}: {exc}\n"
                                  + traceback.format_exc(), ""))  # fmt: skip
        return EXIT_ERROR
    reporter.emit(done)
    if not args.json:
        print(f"       (took {time.monotonic() - started:.1f} s)", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
