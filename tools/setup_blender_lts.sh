#!/usr/bin/env bash
# Idempotent: a venv with Blender 4.2 LTS as a Python module, for tools/test.sh's second run of
# the real-Blender tests. Prints the venv's python on the last line of stdout.
#
#   bash tools/setup_blender_lts.sh
#
# $GENHMR_CACHE/venv-blender-lts-<hash of that file and backend/constraints.txt>, built with
# the Python 3.11 that tools/setup.sh found ($GENHMR_BASE_PYTHON or python3.11); about 550 MB
# downloaded once (pip's cache is $GENHMR_CACHE/pip). GENHMR_WHEELS: install only from that
# wheel folder (offline).
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GENHMR_CACHE="${GENHMR_CACHE:-$HOME/.cache/genhmr}"
export PIP_CACHE_DIR="$GENHMR_CACHE/pip" PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
REQ="$ROOT/tests/blender/requirements-blender-lts.txt"
BASE_PY="${GENHMR_BASE_PYTHON:-$(command -v python3.11 || command -v python3)}"
HASH="$("$BASE_PY" -c 'import hashlib, sys
print(hashlib.sha256(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest()[:12])' \
    "$REQ" "$ROOT/backend/constraints.txt")"
VENV="$GENHMR_CACHE/venv-blender-lts-$HASH"

if [ ! -f "$VENV/.complete" ]; then
    echo "[blender-lts] building $VENV" >&2
    rm -rf "$VENV"
    "$BASE_PY" -m venv "$VENV"
    PIP_ARGS=(--quiet --only-binary=:all: --requirement "$REQ")
    [ -z "${GENHMR_WHEELS:-}" ] || PIP_ARGS+=(--no-index --find-links "$GENHMR_WHEELS")
    "$VENV/bin/python" -m pip install "${PIP_ARGS[@]}" >&2
    "$VENV/bin/python" -c 'import bpy; assert bpy.app.version[:2] == (4, 2), bpy.app.version' >&2
    touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
