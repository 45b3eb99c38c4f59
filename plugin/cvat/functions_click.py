"""CVAT interaction function: SAM from clicks (and an optional box).

Use with cvat-cli (CVAT Online / Enterprise)::

    cvat-cli --server-host https://app.cvat.ai --auth USER function create-native "TAM click (SAM)" \\
        --function-module plugin.cvat.functions_click -p sam_type=str:vit_h
    cvat-cli --server-host https://app.cvat.ai --auth USER function run-agent FUNCTION_ID \\
        --function-module plugin.cvat.functions_click -p sam_type=str:vit_h -p device=str:cuda

or ``tam-label cvat agent --function click``. Parameters: see
:class:`plugin.cvat.functions.FunctionParams`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tam_core.errors import PromptError
from tam_core.prompts import check_box, check_points

from .functions import FunctionParams, require_sdk, to_rgb
from .masks import encode_mask


@dataclass(frozen=True)
class ClickImage:
    """What ``preprocess_image`` returns and the agent caches per frame: the
    frame's SAM embedding (``tam_core.segmenters.sam.SamEmbedding``, on the model's device)
    and its size (H, W)."""

    embedding: Any
    size: tuple[int, int]


def prompt_arrays(pos: Sequence[Sequence[float]], neg: Sequence[Sequence[float]],
                  box: Sequence[Sequence[float]] | None, size: tuple[int, int]):
    """CVAT prompt coordinates (pixels) -> SAM's: points float64 [N,2] (x, y),
    labels int64 [N] (1 positive, 0 negative), box float64 [4] (x0, y0, x1, y1);
    each None when absent.

    The rules are ``tam_core.prompts``' (the closed frame [0, W] x [0, H]: a
    click on the right/bottom border lies on the last pixel); only CVAT's
    shapes are translated here: two click lists, a box as two corners in any
    order.
    """
    points, point_labels = check_points([*pos, *neg], [1] * len(pos) + [0] * len(neg), size, "click")
    bx = None
    if box is not None:
        (x0, y0), (x1, y1) = box
        bx = check_box([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], size, "box")
    return points, point_labels, bx


class SamClickFunction:
    """A ``cvat_sdk.auto_annotation.InteractionFunction``: at least one positive
    click, any number of negative clicks, an optional box; returns one mask
    shape with SAM's predicted IoU as its confidence (nothing when SAM's mask
    is empty)."""

    def __init__(self, params: FunctionParams = FunctionParams()) -> None:
        cvataa = require_sdk()
        self.params = params
        self.spec = cvataa.InteractionFunctionSpec(min_pos_points=1, min_neg_points=0, min_bounding_boxes=0)

    @property
    def models(self):
        from tam_core.models import get_models

        return get_models(self.params.model_options())

    def preprocess_image(self, context: Any, image: Any) -> ClickImage:
        """PIL image -> its SAM embedding (the expensive, prompt-independent step)."""
        rgb = to_rgb(image)
        return ClickImage(self.models.segmenter.embed(rgb), (int(rgb.shape[0]), int(rgb.shape[1])))

    def detect(self, context: Any, pp_image: ClickImage, prompts: Any) -> list:
        """``prompts``: ``cvat_sdk.auto_annotation.InteractionPrompts``. Returns
        ``[InteractionResultShape(type="mask", points=CVAT mask encoding)]`` or ``[]``."""
        import cvat_sdk.models as models

        cvataa = require_sdk()
        points, labels, box = prompt_arrays(prompts.pos_points, prompts.neg_points, prompts.bounding_box,
                                            pp_image.size)
        if points is None and box is None:
            raise PromptError("empty prompt: give at least one positive click")
        out = self.models.segmenter.predict(pp_image.embedding, points=points, point_labels=labels, box=box,
                                            multimask=self.params.multimask)
        encoded = encode_mask(out.mask)
        if encoded is None:
            return []
        confidence = models.AttributeValRequest(spec_id=int(cvataa.InteractionResultAttributes.CONFIDENCE),
                                                value=f"{min(max(float(out.iou), 0.0), 1.0):.4f}")
        return [cvataa.InteractionResultShape(type="mask", points=encoded, attributes=[confidence])]


def create(**params: Any) -> SamClickFunction:
    """cvat-cli's factory hook (``--function-module plugin.cvat.functions_click -p name=type:value``)."""
    return SamClickFunction(FunctionParams.from_kwargs(params))


__all__ = ["ClickImage", "SamClickFunction", "create", "prompt_arrays"]
