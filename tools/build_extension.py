#!/usr/bin/env python3
"""Build the Blender extension zip: ``dist/genhmr-<version>.zip`` (stdlib only).

    python tools/build_extension.py [--out DIR | --out-dir DIR] [--list]

The repository root is the extension root. Files are taken from ``git ls-files`` (tracked and
untracked-but-not-ignored, so a fresh build never picks up caches or local junk) when git is
available, else from walking the tree, and then filtered by ``[build].paths_exclude_pattern`` of
``blender_manifest.toml``, the same gitignore-style rules ``blender --command extension build``
uses: a leading ``/`` anchors a pattern at the root, a trailing ``/`` matches directories, other
patterns match a name at any depth. Blender's own builder is not used because it needs a Blender
executable, and the bpy wheel has none.

The zip holds the manifest at its top level, as Blender's installer expects. Output: the zip's
path on stdout.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "blender_manifest.toml"
# Always left out, whatever the manifest says (Blender's builder does the same).
ALWAYS_EXCLUDE = ("__pycache__/", "/.git/", "*.pyc", "/*.zip")


def read_manifest(root: Path = ROOT) -> dict:
    with open(root / MANIFEST, "rb") as fh:
        return tomllib.load(fh)


def candidate_files(root: Path = ROOT) -> list[str]:
    """Relative POSIX paths of files that are tracked or untracked-but-not-ignored."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], check=True, capture_output=True).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
        return sorted(n for n in set(names) if (root / n).is_file())
    except (OSError, subprocess.CalledProcessError):
        found = []
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                found.append((Path(dirpath) / name).relative_to(root).as_posix())
        return sorted(found)


def is_excluded(rel_path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """gitignore-style match of a file path (relative, POSIX) against exclude patterns."""
    parts = rel_path.split("/")
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        anchored = pattern.startswith("/") or "/" in pattern
        pattern = pattern.lstrip("/")
        # Directories are the path's proper prefixes; files only match non-directory patterns.
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        targets = prefixes if dir_only else [*prefixes, rel_path]
        for target in targets:
            if anchored:
                if fnmatch.fnmatchcase(target, pattern):
                    return True
            elif fnmatch.fnmatchcase(target.rsplit("/", 1)[-1], pattern):
                return True
    return False


def extension_files(root: Path = ROOT) -> list[str]:
    manifest = read_manifest(root)
    patterns = [*ALWAYS_EXCLUDE, *manifest.get("build", {}).get("paths_exclude_pattern", [])]
    return [f for f in candidate_files(root) if not is_excluded(f, patterns)]


def build(out_dir: Path, root: Path = ROOT) -> Path:
    """Write the zip (atomically) and return its path."""
    manifest = read_manifest(root)
    files = extension_files(root)
    if MANIFEST not in files:
        raise SystemExit(f"{MANIFEST} is excluded or missing")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(root / rel, rel)
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", "--out-dir", dest="out", default=str(ROOT / "dist"),
                        help="output folder (default: dist/)")
    parser.add_argument("--list", action="store_true", help="only list the files to pack")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(extension_files()))
        return 0
    print(build(Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
