"""Network pieces: observation encoders, the goal-conditioned policy, the prior, actor-critic heads."""
