"""GenHMR backend: video in, per-person SMPL-X motion out.

Runs as its own process (``python -m genhmr``), never inside Blender. Importing this package must
stay cheap and torch-free so that ``genhmr --help`` and the protocol server start fast; heavy
modules import torch themselves.
"""

__version__ = "0.1.0"
