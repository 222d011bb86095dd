"""F-curve creation across Blender 4.2 LTS .. 5.0 (legacy and slotted/layered actions).

Blender 4.4 introduced layered actions with slots; 5.0 removed ``Action.fcurves``. The API that
exists from 4.4 on, ``Action.fcurve_ensure_for_datablock``, creates the layer, strip, slot and
channelbag as needed and assigns the slot to the data-block. Before 4.4 we use the legacy
``Action.fcurves.new``. Either way the action must already be assigned to the object.
"""

from __future__ import annotations

import bpy


def new_action(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """A fresh action assigned to ``obj`` (never reuses another object's action)."""
    anim = obj.animation_data or obj.animation_data_create()
    action = bpy.data.actions.new(name)
    anim.action = action
    return action


def new_fcurve(action: bpy.types.Action, obj: bpy.types.Object, data_path: str, index: int,
               group: str) -> bpy.types.FCurve:
    """The F-curve for ``obj.<data_path>[index]`` in the channel group ``group``: the action's
    own when it has one (re-baking a range into it), else a new, empty one."""
    if hasattr(action, "fcurve_ensure_for_datablock"):  # 4.4+: slotted actions
        try:
            return action.fcurve_ensure_for_datablock(obj, data_path, index=index,
                                                      group_name=group)
        except TypeError:  # a release whose signature lacks group_name: ungrouped is fine
            return action.fcurve_ensure_for_datablock(obj, data_path, index=index)
    existing = action.fcurves.find(data_path, index=index)  # 4.2 / 4.3
    if existing is not None:
        return existing
    return action.fcurves.new(data_path, index=index, action_group=group)


def fcurves_of(obj: bpy.types.Object) -> list[bpy.types.FCurve]:
    """The F-curves of the object's assigned action (its slot's, from 4.4)."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return []
    if hasattr(anim.action, "fcurves"):  # legacy actions: 4.2 .. 4.4
        return list(anim.action.fcurves)
    from bpy_extras import anim_utils

    bag = anim_utils.animdata_get_channelbag_for_assigned_slot(anim)
    return list(bag.fcurves) if bag is not None else []
