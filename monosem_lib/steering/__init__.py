"""Stage 6 (notebook 06): clamping and ablating features through the LM's MLP hook."""
