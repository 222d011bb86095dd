"""GenHMR for Blender: video in, keyframed SMPL-X rigs out (the ``bpy`` half of the product).

The heavy lifting runs in a separate backend process (``backend/``); this package only builds
the UI, talks to that process and turns its result files into Blender data.
"""

import bpy

from . import preferences, properties
from .ops import (
    alternatives,
    analyze,
    export_motion,
    import_result,
    mark_unsure,
    people,
    refine_range,
    retarget,
)
from .retarget import settings as retarget_settings
from .rig import unsure
from .ui import panel, retarget_panel

CLASSES: tuple[type, ...] = (
    *properties.CLASSES,
    *retarget_settings.CLASSES,
    *preferences.CLASSES,
    *import_result.CLASSES,
    *mark_unsure.CLASSES,
    *people.CLASSES,
    *analyze.CLASSES,
    *refine_range.CLASSES,
    *alternatives.CLASSES,
    *export_motion.CLASSES,
    *retarget.CLASSES,
    *panel.CLASSES,
    *retarget_panel.CLASSES,  # after panel: a sub-panel of it
)


def _menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(import_result.GENHMR_OT_import_result.bl_idname,
                         text="GenHMR Result (.npz)")


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    retarget_settings.register()
    unsure.register()
    analyze.register()
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)
    bpy.types.TOPBAR_MT_file_export.append(export_motion.menu_export)


def unregister() -> None:
    analyze.unregister()
    refine_range.unregister()
    preferences.unregister()
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)
    bpy.types.TOPBAR_MT_file_export.remove(export_motion.menu_export)
    unsure.unregister()
    retarget_settings.unregister()
    properties.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
