"""Stage 00: a toy model of superposition (Elhage et al. 2022) and SAE recovery of its known features."""
