"""One loader per motion source. Each returns :class:`~genhmr.motion.clip.MotionClip` objects
at 30 fps on our skeleton and states the source's license next to its code."""
