"""Inference-time control: objectives, targets, DITTO and DITTO-2."""
