"""The "pre-annotate from class names" operator (SAM 3 concept prompts).

Delegated above ``DELEGATE_ABOVE_CONCEPT_FRAMES`` frames (SAM 3 takes
seconds per frame on a CPU), one job per video with "Whole view, one
delegated job per video"; immediate runs report progress. Results list each video's objects with their class, phrase, best
score and first frame; the masks are in ``frames.<label_field>``
(``plugin.fiftyone.preannotate``)."""

from __future__ import annotations

from pathlib import Path

import fiftyone.operators as foo
import fiftyone.operators.types as types

from tam_core.concepts.prompt import parse_classes
from tam_core.errors import TamError

from . import api, settings
from .fo_operators import VideoJobOperator, _target_input, _target_view

DELEGATE_ABOVE_CONCEPT_FRAMES = 30  # videos with more frames (in total) are pre-annotated by a delegated worker


class PreannotateObjects(VideoJobOperator):
    delegate_above = DELEGATE_ABOVE_CONCEPT_FRAMES  # SAM 3 takes seconds per frame on a CPU
    job_kind = "pre-annotation job"

    @property
    def config(self):
        return foo.OperatorConfig(
            name="preannotate_objects", label="Track Anything: pre-annotate from class names",
            description="Find, segment and track every instance of the given classes with SAM 3 (no clicks)",
            dynamic=True, execute_as_generator=True, allow_immediate_execution=True, allow_delegated_execution=True)

    def resolve_input(self, ctx):
        from .preannotate import default_classes
        from .sink import check_output_field

        inputs = types.Object()
        _target_input(ctx, inputs, per_video=True)
        label_field = ctx.params.get("label_field") or api.DEFAULT_LABEL_FIELD
        lf = inputs.str("label_field", default=api.DEFAULT_LABEL_FIELD, label="Output field",
                        description="Frame-level Detections field for the masks found")
        classes = inputs.str("classes", label="Classes",
                             description="Comma-separated class names, or class=phrase (car=red car); "
                                         "blank: the output field's classes")
        inputs.float("threshold", default=0.5, min=0.0, max=1.0, label="Score threshold",
                      description="Objects SAM 3 scores lower are left out")
        d = settings.model_defaults(ctx)
        ckpt = inputs.str("concept_checkpoint", default=d.concept_checkpoint, label="SAM 3 folder",
                          description="A local Hugging Face folder; blank: the official facebook/sam3 (gated: "
                                      "accept the SAM License and set HF_TOKEN on the server)")
        inputs.str("device", default=d.device, label="Device", description="auto, cpu, cuda or cuda:N")
        try:
            check_output_field(ctx.dataset, label_field)
        except TamError as exc:
            lf.invalid, lf.error_message = True, str(exc)
        try:
            if parse_classes(ctx.params.get("classes")) is None:
                default_classes(ctx.view, label_field)
        except TamError as exc:
            classes.invalid, classes.error_message = True, str(exc)
        path = (ctx.params.get("concept_checkpoint") or d.concept_checkpoint or "").strip()
        if path and not Path(path).expanduser().exists():
            ckpt.invalid, ckpt.error_message = True, f"no folder {path!r}; give an existing one or leave blank"
        return types.Property(inputs, view=types.View(label=self.config.label))

    def _finish(self, ctx, out):
        found = sum(len(v["objects"]) for v in out["videos"])
        return [ctx.ops.notify(f"pre-annotate: {len(out['videos'])} video(s), {found} object(s) found, "
                               f"{out['frames']} frame(s) written", variant="success"),
                ctx.ops.reload_dataset()]

    def run(self, ctx, report) -> dict:
        """Pre-annotate the target videos; ``report(fraction, label)`` after each batch."""
        from .preannotate import preannotate

        view = _target_view(ctx)
        concepts = settings.concept_options(ctx.params, settings.model_defaults(ctx))
        classes = parse_classes(ctx.params.get("classes"))
        label_field = ctx.params.get("label_field") or api.DEFAULT_LABEL_FIELD
        threshold = float(ctx.params.get("threshold", 0.5))
        ids = view.values("id")
        total = max(len(ids), 1)
        out: dict = {"videos": [], "frames": 0}
        for i, sid in enumerate(ids):
            def progress(sample_id, d, t, i=i):
                report((i + d / max(t, 1)) / total, f"pre-annotate: video {i + 1}/{total}, frame {d}/{t}")

            for r in preannotate(view.select(sid), classes, label_field, concepts, threshold, progress=progress):
                out["frames"] += r.frames_written
                out["videos"].append({"filepath": r.filepath, "note": r.note, "objects": [
                    {"index": t.object_id, "label": t.label, "phrase": t.phrase, "score": round(t.score, 4),
                     "first_frame": t.first_frame + 1} for t in r.objects.values()]})
        return out

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.int("frames", label="Frames written")
        outputs.list("videos", types.Object(), label="Objects found (index, class, phrase, best score, first frame)")
        return types.Property(outputs)


__all__ = ["PreannotateObjects"]
