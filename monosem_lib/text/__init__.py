"""Stage 0 (notebook 01's inputs): the corpus, the BPE tokenizer and the tokenised train/val splits."""
