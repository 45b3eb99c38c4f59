"""Concept prompts (SAM 3 text prompts): find, segment and track every
instance of a short noun phrase in a video, without clicks."""
