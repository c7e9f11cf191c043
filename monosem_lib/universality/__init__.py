"""Stage 5 (notebook 05): matching features of SAE A and SAE B by activation correlation."""
