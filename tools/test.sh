#!/usr/bin/env bash
# Set up (idempotent, seconds when done before) and run the whole test suite.
#
#   bash tools/test.sh [pytest args...]
#
# Runs `ruff check .` and then `python -m pytest "$@"` with the dev venv's Python (Blender 5.0).
# A full run (no arguments) then runs tests/blender again with Blender 4.2 LTS driving the
# extension (tools/setup_blender_lts.sh; pytest and the backend stay on the dev venv). The exit
# status is pytest's; "no tests collected" (pytest exit 5) counts as a failure, and so does a
# lint failure when pytest itself passed. .ci/run calls exactly this script.
set -euo pipefail

# shellcheck source=tools/_setup_env.sh
. "$(dirname "${BASH_SOURCE[0]}")/_setup_env.sh"

echo "[test] ruff check ."
lint_status=0
"$GENHMR_PYTHON" -m ruff check . || lint_status=$?
if [ "$lint_status" -ne 0 ]; then
    echo "[test] ruff check failed (exit $lint_status); running the tests anyway" >&2
fi

# the Blender version the dev venv pins ("5.0"), which tests/blender checks it really drove
GENHMR_EXPECT_BLENDER="$(sed -n 's/^bpy==\([0-9]*\.[0-9]*\).*/\1/p' requirements-dev.txt)"
export GENHMR_EXPECT_BLENDER

echo "[test] python -m pytest $*"
test_status=0
"$GENHMR_PYTHON" -m pytest "$@" || test_status=$?

if [ "$#" -eq 0 ] && [ "$test_status" -eq 0 ]; then
    echo "[test] tests/blender again on Blender 4.2 LTS"
    LTS_PYTHON="$(bash tools/setup_blender_lts.sh | tail -n 1)"
    GENHMR_BLENDER_PYTHON="$LTS_PYTHON" GENHMR_EXPECT_BLENDER=4.2 \
        "$GENHMR_PYTHON" -m pytest tests/blender || test_status=$?
fi

if [ "$test_status" -eq 5 ]; then
    echo "[test] ERROR: pytest collected no tests (exit 5): treated as a failure" >&2
    exit 5
fi
if [ "$test_status" -ne 0 ]; then
    exit "$test_status"
fi
if [ "$lint_status" -ne 0 ]; then
    echo "[test] ERROR: the tests passed but 'ruff check .' failed: fix the lint errors above" >&2
    exit 1
fi
exit 0
