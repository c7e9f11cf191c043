"""Stage 2 (notebook 02): harvesting MLP activations into a sharded store, and neuron statistics."""
