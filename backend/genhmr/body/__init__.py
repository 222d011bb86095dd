"""Body models sharing the SMPL-X 55-joint skeleton contract (``genhmr_core.skeleton``).

* :class:`~genhmr.body.body_model.BodyModel` — the one interface: rest joints and mesh for a
  shape, forward kinematics, skinning, keypoints, and a fast FK-only ``skeleton(betas)``.
* :func:`~genhmr.body.default_body.load_default_body` — the license-free default body.
* :func:`~genhmr.body.smplx_model.load_smplx_body` — the user's SMPL-X model through ``smplx``.
* :class:`~genhmr.body.skeleton_model.SkeletonModel` — FK and rigidly attached keypoints for
  one rest skeleton (what the optimisers pose).
"""

from .body_model import BodyModel, LbsBody, PosedBody, linear_blend_skinning
from .default_body import DefaultBodyError, load_default_body
from .skeleton_model import SkeletonModel, builtin_model, forward_kinematics
from .smplx_model import SmplxBody, SmplxModelError, load_smplx, load_smplx_body, smplx_skeleton

__all__ = [
    "BodyModel", "DefaultBodyError", "LbsBody", "PosedBody", "SkeletonModel", "SmplxBody",
    "SmplxModelError", "builtin_model", "forward_kinematics", "linear_blend_skinning",
    "load_default_body", "load_smplx", "load_smplx_body", "smplx_skeleton",
]  # fmt: skip
