"""Labeling operations (track, correct, review) written once against small
interfaces for reading frames/prompts and writing labels."""
