"""The SAM (segment-anything) family's names, light enough for option parsing:
architectures with official weights, and random-weight test architectures
(``tiny``) that need a checkpoint file."""

SAM_TYPES = ("vit_b", "vit_l", "vit_h")
TEST_SAM_TYPES = ("tiny",)

__all__ = ["SAM_TYPES", "TEST_SAM_TYPES"]
