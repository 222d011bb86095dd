"""Motion data for training: loaders for every source, retargeting onto the SMPL-X body pose of
our skeleton, augmentation, a procedural pose sampler and the cached dataset file.

Everything here is numpy/scipy (no torch, no bpy), so building the dataset needs no GPU and the
maths is unit-tested directly.
"""
