#!/usr/bin/env bash
# The main job on the bundled default, from scratch: set up, analyse the sample clip with the
# backend, import it into headless Blender through the installed extension (rigs with skinned
# bodies), save a .blend, render the bodies through the scene camera, and draw two contact sheets.
#
#   bash tools/demo.sh [VIDEO]
#
# Outputs (printed at the end): out/demo.blend, out/demo_contact_sheet.png, out/demo_bodies.png,
# out/demo/result.npz, out/demo/summary.json (timings). VIDEO defaults to the sports2d sample clip demo.mp4.
set -euo pipefail

# shellcheck source=tools/_setup_env.sh
. "$(dirname "${BASH_SOURCE[0]}")/_setup_env.sh"

VIDEO="${1:-$GENHMR_MEDIA_DIR/demo.mp4}"
OUT="$ROOT/out"
JOB="$OUT/demo"
mkdir -p "$JOB"
t0=$SECONDS

echo "[demo] 1/4 backend: analysing $(basename "$VIDEO")"
"$GENHMR_PYTHON" -m genhmr run "$VIDEO" --out "$JOB" --summary-json "$JOB/summary.json" >/dev/null

echo "[demo] 2/4 building the extension"
ZIP="$("$GENHMR_PYTHON" "$ROOT/tools/build_extension.py" --out-dir "$OUT/dist")"

echo "[demo] 3/4 headless Blender: installing the extension, importing, keyframing, saving"
"$GENHMR_PYTHON" "$ROOT/tools/demo_blender.py" --extension "$ZIP" --result "$JOB/result.npz" \
    --blend "$OUT/demo.blend" --joints "$JOB/blender_joints2d.npy" --renders "$JOB/renders" \
    --world-views "$OUT/demo_world_views.png" --summary "$JOB/blender.json"

echo "[demo] 4/4 contact sheets"
"$GENHMR_PYTHON" -m genhmr contact-sheet "$JOB/result.npz" --video "$VIDEO" \
    --blender-joints "$JOB/blender_joints2d.npy" --body-renders "$JOB/renders" \
    --out "$OUT/demo_contact_sheet.png" >/dev/null
"$GENHMR_PYTHON" -m genhmr contact-sheet "$JOB/result.npz" --video "$VIDEO" \
    --body-renders "$JOB/renders" --no-skeleton --out "$OUT/demo_bodies.png" >/dev/null

echo "[demo] done in $((SECONDS - t0)) s (after set-up)"
echo "[demo]   blend file:     $OUT/demo.blend"
echo "[demo]   contact sheet:  $OUT/demo_contact_sheet.png (skeletons and rig joints)"
echo "[demo]   bodies:         $OUT/demo_bodies.png (the skinned bodies over the footage)"
echo "[demo]   world views:    $OUT/demo_world_views.png (side and top views on the ground plane)"
echo "[demo]   result:         $JOB/result.npz"
echo "[demo]   timings:        $JOB/summary.json, $JOB/blender.json"
