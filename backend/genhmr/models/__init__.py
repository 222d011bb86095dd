"""Learned models of the GenHMR method (one module per model): the pose tokenizer now, the
image-conditioned masked transformer next. Torch only; their trainers live in ``genhmr.train``."""
