"""Multi-label recognition on frozen CLIP: the backbone wrapper, partial-label masks, the four
heads, losses, metrics and the training loop."""
