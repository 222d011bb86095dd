"""backend/install_backend.py: its pure parts, and real runs of the script on the dev venv.

The script is stdlib-only and runs under Blender's Python, so it is imported here as a plain
module from backend/ (on the test path through pyproject's ``pythonpath``).
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import install_backend as ib
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "backend" / "install_backend.py"
REQUIREMENTS = ROOT / "backend" / "requirements.txt"
CONSTRAINTS = ROOT / "backend" / "constraints.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_script(*args: str, timeout: float = 120) -> tuple[int, list[dict], str]:
    """Run the installer with --json; returns (exit code, events, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(SCRIPT), *args, "--json"], capture_output=True,
                          text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, events, proc.stderr


# -- requirement files -----------------------------------------------------------------------------


def test_normalized_lines_drop_comments_and_blank_lines():
    text = "# header\n\nfoo==1.0  # why\r\n  bar>=2 \n#baz==3\n"
    assert ib.normalized_lines(text) == ["foo==1.0", "bar>=2"]
    assert ib.normalize_name("Typing_Extensions") == ib.normalize_name("typing.extensions")


def test_parse_pins():
    text = """
        # comment
        torch==2.13.0
        opencv-python-headless == 4.11.0.86  # headless
        smplx[all]==0.1.28
        numpy==1.26.4 ; python_version < "3.12"
        Typing_Extensions==4.16.0
        scipy>=1.0
        -r other.txt
        git+https://example.invalid/x.git
    """
    assert ib.parse_pins(textwrap.dedent(text)) == {
        "torch": "2.13.0",
        "opencv-python-headless": "4.11.0.86",
        "smplx": "0.1.28",
        "numpy": "1.26.4",
        "typing-extensions": "4.16.0",
    }


def test_requirements_hash_depends_on_content_only(tmp_path: Path):
    a = write(tmp_path / "a" / "req.txt", "-r base.txt\nfoo==1.0\n")
    write(tmp_path / "a" / "base.txt", "bar==2.0\n")
    b = write(tmp_path / "b" / "req.txt", "# a comment\n-r base.txt\n\nfoo==1.0   # pinned\n")
    write(tmp_path / "b" / "base.txt", "bar==2.0\n")
    h = ib.requirements_hash([a])
    assert len(h) == 64 and h == ib.requirements_hash([a])  # stable
    assert ib.requirements_hash([b]) == h  # comments, blank lines and location do not count
    write(tmp_path / "b" / "base.txt", "bar==2.1\n")  # an included file changed
    assert ib.requirements_hash([b]) != h
    write(tmp_path / "a" / "req.txt", "-r base.txt\nfoo==1.1\n")  # a pin changed
    assert ib.requirements_hash([a]) != h
    assert ib.expand_requirement_files([a]) == [a.resolve(), (tmp_path / "a/base.txt").resolve()]


def test_include_cycles_terminate_and_missing_files_are_clear(tmp_path: Path):
    a = write(tmp_path / "a.txt", "-r b.txt\nx==1\n")
    write(tmp_path / "b.txt", "-c a.txt\ny==2\n")
    assert len(ib.expand_requirement_files([a])) == 2
    assert ib.count_expected_packages([a]) == 2
    with pytest.raises(ib.InstallError) as err:
        ib.requirements_hash([tmp_path / "missing.txt"])
    assert err.value.step == "check" and "missing.txt" in err.value.message


def test_print_hash_matches_the_library_and_the_dev_venv_name():
    out = subprocess.run([sys.executable, str(SCRIPT), "--print-hash", "--requirements",
                          str(DEV_REQUIREMENTS), "--constraints", str(CONSTRAINTS)],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert out == ib.requirements_hash([DEV_REQUIREMENTS, CONSTRAINTS])
    if Path(sys.prefix).name.startswith("venv-py311-"):  # tools/setup.sh names the venv so
        assert Path(sys.prefix).name == f"venv-py311-{out[:12]}"


def test_every_requirement_is_pinned_in_the_constraints():
    constraints = ib.parse_pins(CONSTRAINTS.read_text(encoding="utf-8"))
    runtime = ib.parse_pins(REQUIREMENTS.read_text(encoding="utf-8"))
    assert runtime, "backend/requirements.txt pins nothing?"
    for name, version in runtime.items():
        assert constraints.get(name) == version, name
    for line in ib.normalized_lines(REQUIREMENTS.read_text(encoding="utf-8")):
        assert "==" in line, f"unpinned runtime requirement: {line}"
    dev = ib.parse_pins(DEV_REQUIREMENTS.read_text(encoding="utf-8"))
    assert {"bpy", "pytest", "ruff"} <= set(dev)


def test_the_running_environment_has_the_pinned_versions():
    """The dev venv (made by tools/setup.sh) holds exactly the frozen versions."""
    pins = ib.parse_pins(CONSTRAINTS.read_text(encoding="utf-8"))
    pins.update(ib.parse_pins(DEV_REQUIREMENTS.read_text(encoding="utf-8")))
    checked = 0
    for name in ("torch", "mediapipe", "numpy", "protobuf", "opencv-python-headless", "scipy",
                 "smplx", "pytest", "ruff"):
        installed = importlib.metadata.version(name)
        assert installed.split("+")[0] == pins[name], (name, installed)
        checked += 1
    assert checked == 9


# -- stamp -----------------------------------------------------------------------------------------


def test_stamp_round_trip_and_mismatches(tmp_path: Path):
    assert ib.read_stamp(tmp_path) is None and not ib.stamp_matches(tmp_path, "abc")
    ib.write_stamp(tmp_path, ib.make_stamp("abc", "3.11.7"))
    assert ib.read_stamp(tmp_path) == {"stamp_version": ib.STAMP_VERSION,
                                       "requirements_hash": "abc", "python": "3.11.7"}
    assert ib.stamp_matches(tmp_path, "abc")
    assert not ib.stamp_matches(tmp_path, "abd")
    assert not list(tmp_path.glob("*.tmp"))
    stamp = tmp_path / ib.STAMP_NAME
    stamp.write_text(json.dumps({"stamp_version": 999, "requirements_hash": "abc"}))
    assert not ib.stamp_matches(tmp_path, "abc")
    for junk in ("{not json", "[1, 2]", ""):
        stamp.write_text(junk)
        assert ib.read_stamp(tmp_path) is None and not ib.stamp_matches(tmp_path, "abc")


# -- versions and arguments ------------------------------------------------------------------------


def test_version_parsing_and_index_arguments(tmp_path: Path):
    assert ib.parse_version("23.2.1") == (23, 2, 1)
    assert ib.parse_version("24.0b1") == (24, 0)
    assert ib.parse_version("garbage") == ()
    assert ib.parse_pip_version("pip 23.2.1 from /x/site-packages/pip (python 3.11)") == (23, 2, 1)
    assert ib.parse_pip_version("No module named pip") == ()
    assert ib.index_args(None) == []
    assert ib.index_args(tmp_path) == ["--no-index", "--find-links", str(tmp_path)]
    assert ib.venv_python(tmp_path).name in ("python", "python.exe")


# -- events ----------------------------------------------------------------------------------------


def test_overall_fraction_is_monotonic_through_the_steps():
    values = [ib.overall_fraction(step, local) for step in ib.STEP_RANGES
              for local in (0.0, 0.5, 1.0)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert ib.overall_fraction("install", 7.0) == ib.STEP_RANGES["install"][1]  # clamped
    assert ib.overall_fraction("install", -1.0) == ib.STEP_RANGES["install"][0]


def test_event_shapes():
    p = ib.progress_event("install", "collecting torch", 1.7)
    assert p == {"type": "progress", "step": "install", "message": "collecting torch",
                 "fraction": 1.0}
    assert ib.done_event(Path("/v/bin/python"), "/t.task") == {
        "type": "done", "python": "/v/bin/python", "task_bundle": "/t.task"}
    assert ib.error_event("boom", "venv") == {"type": "error", "message": "boom", "step": "venv"}
    for event in (p, ib.done_event("py"), ib.error_event("x")):
        assert json.loads(json.dumps(event)) == event  # plain JSON types only
    assert ib.format_human(p) == "[100%] install: collecting torch"
    assert ib.format_human(ib.error_event("boom", "venv")) == "ERROR (venv): boom"
    assert "task bundle: /t.task" in ib.format_human(ib.done_event("py", "/t.task"))


def test_reporter_writes_one_flushed_line_per_event():
    out = io.StringIO()
    rep = ib.Reporter(json_mode=True, stream=out)
    rep.progress("venv", "creating", 0.5)
    rep.emit(ib.done_event("py"))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["type"] for e in lines] == ["progress", "done"]
    assert lines[0]["fraction"] == ib.overall_fraction("venv", 0.5)
    human = io.StringIO()
    ib.Reporter(json_mode=False, stream=human).progress("check", "ok", 1.0)
    assert human.getvalue() == "[  1%] check: ok\n"


# -- pip output ------------------------------------------------------------------------------------


def test_pip_progress_follows_a_real_looking_install():
    state = ib.PipProgress(expected=4)
    lines = [
        "Looking in links: /opt/wheels",
        "Collecting torch==2.13.0 (from -r requirements.txt (line 1))",
        "  Downloading torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl (180.3 MB)",
        "Processing /opt/wheels/mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
        "Requirement already satisfied: numpy==1.26.4 in ./lib/python3.11/site-packages",
        "Collecting torch==2.13.0",  # the same package again counts once
        "  Using cached scipy-1.17.1-cp311-cp311-manylinux_2_28_x86_64.whl (35 MB)",
        "Installing collected packages: torch, mediapipe",
    ]
    messages = [state.feed(line, now=100.0) for line in lines]
    assert messages[0] is None
    assert messages[1] == "collecting torch (1/~4)"
    assert messages[2] == ("downloading torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl "
                           "(180.3 MB)")
    assert messages[3] == "collecting mediapipe (2/~4)"
    assert messages[4] == "already installed: numpy"
    assert messages[5] == "collecting torch (3/~4)"
    assert messages[6].startswith("cached scipy-1.17.1")
    assert messages[7] == "installing 2 packages (torch and bpy take a while)"
    assert state.collected == ["torch", "mediapipe", "numpy"]
    assert state.phase == "install" and state.fraction == ib.COLLECT_SHARE
    # while pip unpacks silently the fraction creeps up, never past 0.98, never backwards
    creep = [state.fraction]
    for t in (105.0, 130.0, 200.0, 10_000.0):
        assert state.tick(t) is not None
        creep.append(state.fraction)
    assert creep == sorted(creep) and ib.COLLECT_SHARE < creep[-1] <= 0.98
    assert state.feed("Successfully installed mediapipe-0.10.21 torch-2.13.0") == (
        "installed 2 packages")
    assert state.fraction == 1.0 and state.phase == "done"
    assert state.tick(20_000.0) is None


def test_pip_progress_collects_errors_and_ignores_noise():
    state = ib.PipProgress(expected=0)  # clamped to 1
    assert state.expected == 1
    assert state.feed("") is None and state.feed("   ") is None
    assert state.feed("ERROR: No matching distribution found for torch==9.9") is None
    assert state.feed("Attempting uninstall: numpy") == "replacing numpy"
    assert state.errors == ["ERROR: No matching distribution found for torch==9.9"]
    assert state.tick(1.0) is None  # not installing yet
    for i in range(5):
        state.feed(f"Collecting pkg{i}")
    assert state.fraction == ib.COLLECT_SHARE  # more packages than expected: capped


# -- file lock -------------------------------------------------------------------------------------


def test_file_lock_excludes_a_second_process(tmp_path: Path):
    lock_path = tmp_path / "venv.lock"
    child = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(SCRIPT.parent)!r})
        import install_backend as ib
        lock = ib.FileLock(__import__("pathlib").Path({str(lock_path)!r}))
        lock.acquire(on_wait=lambda: print("waiting", flush=True))
        print("acquired", time.monotonic(), flush=True)
        lock.release()
    """)
    lock = ib.FileLock(lock_path)
    lock.acquire()
    try:
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        assert proc.poll() is None  # still blocked
        released = time.monotonic()
    finally:
        lock.release()
    out, _ = proc.communicate(timeout=30)
    word, when = out.split()
    assert word == "acquired" and float(when) >= released
    lock.release()  # a second release is harmless
    again = ib.FileLock(lock_path)  # and the lock can be taken again at once
    again.acquire(on_wait=lambda: pytest.fail("the lock was not released"))
    again.release()


# -- the script itself -----------------------------------------------------------------------------


@pytest.mark.slow
def test_rerun_on_the_dev_venv_reuses_it_quickly():
    """What tools/setup.sh runs on every test run: the stamp matches, so no pip runs; the task
    bundle step finds the existing bundle."""
    venv = Path(sys.prefix)
    if not (venv / ib.STAMP_NAME).is_file():
        pytest.fail(f"the tests must run with the dev venv made by tools/setup.sh "
                    f"(no {ib.STAMP_NAME} in {venv}); run `bash tools/setup.sh`")
    t = time.monotonic()
    code, events, stderr = run_script("--venv", str(venv), "--requirements",
                                      str(DEV_REQUIREMENTS), "--constraints", str(CONSTRAINTS))
    elapsed = time.monotonic() - t
    assert code == 0, (events, stderr)
    assert elapsed < 60, elapsed  # measured ~0.5 s
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done" and "error" not in kinds
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert steps[0] == "check" and "pip" not in steps and "opencv" not in steps
    messages = [e["message"] for e in events if e["type"] == "progress"]
    assert any(m.startswith(f"reusing {venv}") for m in messages)
    assert any("requirements unchanged" in m for m in messages)
    fractions = [e["fraction"] for e in events if e["type"] == "progress"]
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    done = events[-1]
    assert Path(done["python"]) == ib.venv_python(venv)
    assert done["task_bundle"] and Path(done["task_bundle"]).is_file()
    assert set(done) == {"type", "python", "task_bundle"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--requirements", "/nonexistent/requirements.txt"], "requirement file not found"),
        (["--constraints", "/nonexistent/constraints.txt"], "requirement file not found"),
        (["--wheels", "/nonexistent/wheels"], "wheel folder not found"),
    ],
    ids=["requirements", "constraints", "wheels"],
)
def test_bad_paths_give_one_error_event_and_exit_2(tmp_path: Path, args, needle):
    venv = tmp_path / "venv"
    code, events, _ = run_script("--venv", str(venv), *args)
    assert code == ib.EXIT_USAGE
    assert events[-1]["type"] == "error" and events[-1]["step"] == "check"
    assert needle in events[-1]["message"] and "/nonexistent/" in events[-1]["message"]
    assert not venv.exists()  # nothing was created


def test_missing_venv_argument_and_a_folder_that_is_not_a_venv(tmp_path: Path):
    code, events, _ = run_script()
    assert code == ib.EXIT_USAGE and events == [
        {"type": "error", "message": "--venv DIR is required", "step": "check"}]
    folder = tmp_path / "stuff"
    write(folder / "notes.txt", "mine")
    code, events, _ = run_script("--venv", str(folder), "--skip-task-bundle")
    assert code == ib.EXIT_ERROR
    assert events[-1]["type"] == "error" and events[-1]["step"] == "venv"
    assert "is not a Python environment" in events[-1]["message"]
    assert (folder / "notes.txt").read_text() == "mine"  # left alone


def test_the_torch_build_choice(tmp_path: Path):
    """Auto takes CUDA only with an NVIDIA GPU; the CPU build on Linux comes first from the
    CPU index as the exact local version; nothing special elsewhere or offline."""
    driver = tmp_path / "nvidia_version"
    assert not ib.has_nvidia_gpu(driver, which=lambda _name: None)
    assert ib.has_nvidia_gpu(driver, which=lambda _name: "/usr/bin/nvidia-smi")
    driver.write_text("NVRM version: 550.0\n")
    assert ib.has_nvidia_gpu(driver, which=lambda _name: None)
    assert ib.resolve_torch_build("auto", nvidia=True) == "cuda"
    assert ib.resolve_torch_build("auto", nvidia=False) == "cpu"
    assert ib.resolve_torch_build("cuda", nvidia=False) == "cuda"
    with pytest.raises(ib.InstallError, match="unknown torch build"):
        ib.resolve_torch_build("rocm", nvidia=False)
    index = "https://example.invalid/cpu"
    cmd = ib.torch_install_cmd("/venv/bin/python", "cpu", "2.13.0", index, None, "linux")
    assert cmd[:3] == ["/venv/bin/python", "-m", "pip"] and "torch==2.13.0+cpu" in cmd
    assert cmd[cmd.index("--extra-index-url") + 1] == index and "--index-url" not in cmd
    for build, pin, wheels, platform in [("cuda", "2.13.0", None, "linux"),
                                         ("cpu", "2.13.0", None, "win32"),
                                         ("cpu", "2.13.0", None, "darwin"),
                                         ("cpu", "2.13.0", tmp_path, "linux"),
                                         ("cpu", None, None, "linux")]:
        assert ib.torch_install_cmd("py", build, pin, index, wheels, platform) is None


def test_the_stamp_tells_torch_builds_apart(tmp_path: Path):
    """Switching the build re-runs pip: the stamp hash names the build."""
    hashes = {}
    for build in ("cpu", "cuda"):
        args = ib.resolve_args(ib.build_parser().parse_args(
            ["--venv", str(tmp_path / "venv"), "--torch", build, "--any-python"]))
        installer = ib.Installer(args, ib.Reporter(True, io.StringIO()), ib.Runner())
        hashes[build] = installer.check()
    assert hashes["cpu"].endswith("+torch-cpu") and hashes["cuda"].endswith("+torch-cuda")
    assert hashes["cpu"].split("+")[0] == hashes["cuda"].split("+")[0]
    assert ib.build_parser().parse_args(["--venv", "x"]).torch == "auto"


def _probe_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (built by hand: no build backend, no index needed)."""
    import zipfile

    name, version = "genhmr_offline_probe", "1.0"
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 42\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{dist}/RECORD"])
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, text in files.items():
            zf.writestr(p, text)
    return path


@pytest.mark.slow
def test_offline_install_end_to_end(tmp_path: Path):
    """Offline (--wheels): a fresh environment from a folder of wheels only, whatever the torch
    choice (the folder's build is the build); the choice is named before pip runs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _probe_wheel(wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("genhmr-offline-probe==1.0\n")
    venv = tmp_path / "venv"
    code, events, stderr = run_script("--venv", str(venv), "--wheels", str(wheels),
                                      "--requirements", str(requirements), "--no-constraints",
                                      "--torch", "cpu", "--skip-task-bundle", timeout=600)
    assert code == 0, (events, stderr)
    messages = [e["message"] for e in events if e["type"] == "progress"]
    assert any(m.startswith("torch: the CPU build (from the folder)") for m in messages)
    probe = subprocess.run([str(ib.venv_python(venv)), "-c",
                            "import genhmr_offline_probe as p; print(p.VALUE)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "42", probe.stderr
    assert ib.read_stamp(venv)["requirements_hash"].endswith("+torch-cpu")
