"""Fitting the skeleton to detector evidence (the baseline 3D method)."""

from .ik_fit import FitConfig, FitResult, fit_track

__all__ = ["FitConfig", "FitResult", "fit_track"]
