"""Stage 3 (notebook 03): the sparse autoencoder, its training with resampling, and its metrics."""
