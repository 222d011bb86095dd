"""Synthetic conditioning: what the generative model trains on instead of labelled images.

* :mod:`~genhmr.synthetic.cameras` — random perspective cameras (WHAM-style), static or moving.
* :mod:`~genhmr.synthetic.noise` — a model of MediaPipe's behaviour on our keypoints (jitter,
  bias, visibility, swaps, misses, 3D world landmarks); ``NoiseModel.load()`` reads the fitted
  ``mediapipe_noise.json``.
* :mod:`~genhmr.synthetic.render_set` — the render set of the default body that the noise
  model is fitted on (``python -m genhmr.synthetic.render_set``; renders with
  ``tools/render_synthetic.py`` in a separate Blender process).
* :mod:`~genhmr.synthetic.turned_camera` — footage of a turning camera with a known answer,
  warped from one real frame (for measuring camera-motion estimation).

See docs/synthetic.md.
"""

from .cameras import CameraConfig, CameraTrack, sample_camera
from .noise import NoiseModel, Observation, Pairs, bias_frames, fit

__all__ = ["CameraConfig", "CameraTrack", "NoiseModel", "Observation", "Pairs", "bias_frames",
           "fit", "sample_camera"]
