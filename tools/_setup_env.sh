# Sourced by tools/test.sh and tools/demo.sh: run the idempotent set-up from the repository root
# with no stdin, then load its environment ($GENHMR_PYTHON, $GENHMR_MEDIA_DIR, PYTHONPATH) and
# set ROOT. Not meant to be run on its own.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec </dev/null

bash "$ROOT/tools/setup.sh"
GENHMR_CACHE="${GENHMR_CACHE:-$HOME/.cache/genhmr}"
# shellcheck disable=SC1091
. "$GENHMR_CACHE/env.sh"
