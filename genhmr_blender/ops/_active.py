"""A base for operators that act on the active object when it is of one kind."""

from collections.abc import Callable

import bpy

from ..rig import people


def active_person(context: bpy.types.Context) -> bpy.types.Object | None:
    """The active object when it is a GenHMR rig (a person), else None."""
    obj = context.active_object
    return obj if people.is_person(obj) else None


class OnActive:
    """Enabled only while ``active(context)`` finds the object to act on; otherwise Blender
    shows ``poll_hint`` as the greyed button's tooltip (and in a script's error)."""

    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads this class attribute
    poll_hint = ""
    active: Callable[[bpy.types.Context], bpy.types.Object | None]

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if cls.active(context) is not None:
            return True
        cls.poll_message_set(cls.poll_hint)
        return False
