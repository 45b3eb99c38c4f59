"""EfficientViT-SAM's architectures and their encoder input sides (a leaf, read
by the family and the segmenter): the "l" models take 512 px, the "xl" ones
1024 px (efficientsam's builders); "tiny" is for tests. Prompts and masks are
in SAM's 1024 px frame for all of them."""

OFFICIAL_TYPES = ("l0", "l1", "l2", "xl0", "xl1")
INPUT_SIZES = {"l0": 512, "l1": 512, "l2": 512, "xl0": 1024, "xl1": 1024, "tiny": 128}

__all__ = ["INPUT_SIZES", "OFFICIAL_TYPES"]
