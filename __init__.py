"""Blender extension entry point: the add-on itself lives in ``genhmr_blender``.

Imports happen inside the functions so that merely importing this package (e.g. by tools that
scan the repository) never pulls in ``bpy``.
"""


def register() -> None:
    from .genhmr_blender import register as _register

    _register()


def unregister() -> None:
    from .genhmr_blender import unregister as _unregister

    _unregister()
