"""Fitting bodies to detector evidence: per-person shape from bone lengths, and the pose fit
(the baseline 3D method)."""

from .ik_fit import FitConfig, FitResult, fit_track
from .shape import ShapeConfig, ShapeEstimate, estimate_betas

__all__ = ["FitConfig", "FitResult", "ShapeConfig", "ShapeEstimate", "estimate_betas",
           "fit_track"]
