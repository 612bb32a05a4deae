"""Training-only teachers (pretrained, non-causal models that give regression targets)."""
