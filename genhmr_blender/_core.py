"""One place that imports the bpy-free core, whichever way this package was loaded.

Inside Blender the extension is the package ``bl_ext.<repo>.genhmr`` and ``genhmr_core`` is its
sibling sub-package, reached with a relative import. The unit tests put the repository root on
``sys.path`` and import ``genhmr_blender`` as a top-level package, where the relative import
cannot climb above it; then the top-level ``genhmr_core`` is the same code.
"""

from __future__ import annotations

try:
    from ..genhmr_core import (
        alternatives,
        body_mesh,
        confidence,
        contacts,
        gaps,
        ground,
        job_revisions,
        limb_ik,
        protocol,
        result_format,
        retarget,
        scene_space,
        skeleton,
        supports,
    )
except ImportError:  # imported as a top-level package (tests, tools)
    from genhmr_core import (  # type: ignore[no-redef]
        alternatives,
        body_mesh,
        confidence,
        contacts,
        gaps,
        ground,
        job_revisions,
        limb_ik,
        protocol,
        result_format,
        retarget,
        scene_space,
        skeleton,
        supports,
    )

__all__ = ["alternatives", "body_mesh", "confidence", "contacts", "gaps", "ground",
           "job_revisions", "limb_ik", "protocol", "result_format", "retarget", "scene_space",
           "skeleton", "supports"]
