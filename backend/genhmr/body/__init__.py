"""Body models sharing the SMPL-X 55-joint skeleton contract (``genhmr_core.skeleton``).

* :class:`~genhmr.body.skeleton_model.SkeletonModel` — forward kinematics and keypoints for any
  rest skeleton; the built-in skeleton needs no licensed files.
* :func:`~genhmr.body.smplx_model.load_smplx` — the real SMPL-X model through the ``smplx``
  package when the user points at their model folder.
"""

from .skeleton_model import SkeletonModel, builtin_model
from .smplx_model import SmplxModelError, load_smplx, smplx_skeleton

__all__ = ["SkeletonModel", "SmplxModelError", "builtin_model", "load_smplx", "smplx_skeleton"]
