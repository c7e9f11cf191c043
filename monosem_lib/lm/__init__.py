"""Stage 1 (notebook 01): the one-layer transformer, its training and its evaluation baselines."""
