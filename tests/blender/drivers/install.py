"""Install the built zip with Blender's extension installer; report what got registered.

Usage: python install.py ZIP
"""

import sys
import time

t0 = time.perf_counter()
import bpy  # noqa: E402
from _driver import PACKAGE, emit  # noqa: E402

t_import = time.perf_counter() - t0
t0 = time.perf_counter()
status = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True)
t_install = time.perf_counter() - t0

ops = [name for name in ("analyze", "import_result", "cancel", "setup_backend")
       if hasattr(bpy.ops.genhmr, name) and bpy.ops.genhmr.__getattr__(name).get_rna_type()]
panels = [name for name in ("GENHMR_PT_view3d", "GENHMR_PT_sequencer")
          if hasattr(bpy.types, name)]
prefs = bpy.context.preferences.addons[PACKAGE].preferences
prefs_values = {"device": prefs.device, "backend_python": prefs.backend_python}
del prefs  # invalid once the add-on is disabled below
user_path = bpy.utils.extension_path_user(PACKAGE, create=True)
ext_mod = sys.modules[PACKAGE]

# Disable and enable again: unregister must be clean for reloads and upgrades.
bpy.ops.preferences.addon_disable(module=PACKAGE)
still_there = hasattr(bpy.types, "GENHMR_PT_view3d")
bpy.ops.preferences.addon_enable(module=PACKAGE)

emit({
    "status": sorted(status),
    "enabled": PACKAGE in bpy.context.preferences.addons,
    "operators": ops,
    "panels": panels,
    "prefs": prefs_values,
    "scene_props": hasattr(bpy.context.scene, "genhmr"),
    "user_path": user_path,
    "module_file": ext_mod.__file__,
    "panel_after_disable": still_there,
    "re_enabled": hasattr(bpy.types, "GENHMR_PT_view3d"),
    "seconds": {"import_bpy": t_import, "install": t_install},
    "blender_version": list(bpy.app.version),
})
