"""Trainers for the GenHMR models (``python -m genhmr.train.tokenizer``, ...) and the machinery
they share (:mod:`genhmr.train.common`: configs, checkpoints, torchrun/DDP, logging)."""
