"""FiftyOne operators: track, correct, review (App forms and execute_operator).

Targets: the current sample, the selected samples or the whole view. Long
tracking is delegated (``fiftyone delegated launch`` runs it). Inputs are
validated in the form with a message saying what to fix; the same checks run
again in ``execute``.
"""

from __future__ import annotations

import fiftyone.operators as foo
import fiftyone.operators.types as types

from operators.track import DIRECTIONS, TrackOptions
from tam_core.errors import TamError

from . import api
from .models import SAM_TYPES, ModelChoice

# Videos with more frames than this (in total) are delegated by default.
DELEGATE_ABOVE_FRAMES = 300
REVIEW_VIEW = "tam-review"


def _target_view(ctx):
    target = ctx.params.get("target", "CURRENT_VIEW")
    if target == "SELECTED_SAMPLES" and ctx.selected:
        return ctx.view.select(ctx.selected)
    if target == "CURRENT_SAMPLE" and ctx.current_sample:
        return ctx.view.select(ctx.current_sample)
    return ctx.view


def _target_input(ctx, inputs):
    choices = types.RadioGroup()
    choices.add_choice("CURRENT_VIEW", label="Whole view")
    default = "CURRENT_VIEW"
    if ctx.selected:
        choices.add_choice("SELECTED_SAMPLES", label=f"Selected samples ({len(ctx.selected)})")
        default = "SELECTED_SAMPLES"
    if ctx.current_sample:
        choices.add_choice("CURRENT_SAMPLE", label="Current sample")
        default = "CURRENT_SAMPLE"
    inputs.enum("target", choices.values(), default=default, label="Run on", view=choices)


def _frame_fields(ctx, kinds):
    import fiftyone as fo

    schema = (ctx.dataset.get_frame_field_schema() or {}) if ctx.dataset is not None else {}
    return [n for n, f in schema.items() if isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, kinds)]


def _model_inputs(ctx, inputs, with_direction=True):
    inputs.enum("sam_type", list(SAM_TYPES), default="vit_b", label="SAM model", view=types.DropdownView())
    inputs.str("device", default="auto", label="Device", description="auto, cpu, cuda or cuda:N")
    inputs.bool("refine", default=True, label="SAM refinement", description="Repair frames where tracking degrades")
    if with_direction:
        inputs.enum("direction", list(DIRECTIONS), default="both", label="Direction", view=types.RadioGroup())


def _field_inputs(ctx, inputs) -> bool:
    """Prompt and output field inputs; marks them invalid with what to fix.
    Returns True when both are valid."""
    import fiftyone as fo

    from .sink import check_output_field

    prompt_fields = _frame_fields(ctx, (fo.Keypoints, fo.Detections, fo.Segmentation))
    default_pf = api.DEFAULT_PROMPT_FIELD if api.DEFAULT_PROMPT_FIELD in prompt_fields else (prompt_fields[0] if prompt_fields else None)
    pf_prop = inputs.str("prompt_field", default=default_pf, required=True, label="Prompt field",
                         description="Frame field with Keypoints (clicks), Detections (boxes) or Segmentation")
    lf_prop = inputs.str("label_field", default=api.DEFAULT_LABEL_FIELD, label="Output field",
                         description="Frame-level Detections field for the tracked masks")
    ok = True
    pf = ctx.params.get("prompt_field", default_pf)
    try:
        pf = api.check_prompt_field(ctx.view, pf or "")
        if ctx.view.count(f"frames.{pf}") == 0:
            raise TamError(f"frame field {pf!r} has no prompts in this view; click objects in the Track Anything panel or add Keypoints/boxes")
    except TamError as exc:
        pf_prop.invalid, pf_prop.error_message = True, str(exc)
        ok = False
    try:
        check_output_field(ctx.dataset, ctx.params.get("label_field", api.DEFAULT_LABEL_FIELD) or "", pf)
    except TamError as exc:
        lf_prop.invalid, lf_prop.error_message = True, str(exc)
        ok = False
    return ok


def _choice(params) -> ModelChoice:
    return ModelChoice(sam_type=params.get("sam_type", "vit_b"), device=params.get("device") or "auto", refine=bool(params.get("refine", True)))


def _options(params) -> TrackOptions:
    return TrackOptions(direction=params.get("direction", "both"), refine=bool(params.get("refine", True)))


def _total_frames(view) -> int:
    return int(sum(n or 0 for n in view.values("metadata.total_frame_count")))


class _TrackBase(foo.Operator):
    action = "track"

    def resolve_input(self, ctx):
        inputs = types.Object()
        _target_input(ctx, inputs)
        _field_inputs(ctx, inputs)
        _model_inputs(ctx, inputs)
        return types.Property(inputs, view=types.View(label=self.config.label))

    def resolve_delegation(self, ctx):
        # Long videos always go to a worker (immediate runs time out after
        # 600 s); otherwise the user's choice in the App (None = ask).
        if _total_frames(_target_view(ctx)) > DELEGATE_ABOVE_FRAMES:
            return True
        return None

    def execute(self, ctx):
        view = _target_view(ctx)
        fn = api.track if self.action == "track" else api.correct
        total = max(len(view), 1)
        done = []

        def progress(sample_id, d, t):
            frac = (len(done) + d / max(t, 1)) / total
            label = f"{self.action}: video {len(done) + 1}/{total}, frame {d}/{t}"
            if ctx.delegated:
                ctx.set_progress(progress=frac, label=label)

        reports = []
        for s in view.select_fields():
            reports += fn(view.select(s.id), ctx.params.get("prompt_field"), ctx.params.get("label_field") or api.DEFAULT_LABEL_FIELD,
                          model_choice=_choice(ctx.params), options=_options(ctx.params), progress=progress)
            done.append(s.id)
        if not ctx.delegated:
            ctx.trigger("reload_dataset")
        return _summary(reports)


def _summary(reports) -> dict:
    out = {"samples": len(reports), "tracked": 0, "frames": 0, "skipped": []}
    for r in reports:
        if r.report is None:
            out["skipped"].append(f"{r.filepath}: {r.note}")
        else:
            out["tracked"] += 1
            out["frames"] += r.report.frames_written
    return out


class TrackObjects(_TrackBase):
    action = "track"

    @property
    def config(self):
        return foo.OperatorConfig(
            name="track_objects",
            label="Track Anything: track objects",
            description="Segment prompted objects with SAM and track them through the videos",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )


class CorrectObjects(_TrackBase):
    action = "correct"

    @property
    def config(self):
        return foo.OperatorConfig(
            name="correct_objects",
            label="Track Anything: correct and re-track",
            description="Re-track only the spans affected by new prompts or edited masks",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )


class ReviewQueue(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="review_queue",
            label="Track Anything: review queue",
            description="The frames to check first: low quality, sudden area/shape change, refined",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        import fiftyone as fo

        inputs = types.Object()
        _target_input(ctx, inputs)
        fields = _frame_fields(ctx, (fo.Detections,))
        default = api.DEFAULT_LABEL_FIELD if api.DEFAULT_LABEL_FIELD in fields else (fields[0] if fields else None)
        prop = inputs.str("label_field", default=default, label="Tracked field")
        if (ctx.params.get("label_field") or default) not in fields:
            prop.invalid, prop.error_message = True, "pick a frame-level Detections field written by Track objects"
        inputs.int("limit", default=50, min=1, label="Frames to list")
        inputs.str("view_name", default=REVIEW_VIEW, label="Save as view", description="Saved view with the flagged frames")
        return types.Property(inputs, view=types.View(label="Review queue"))

    def execute(self, ctx):
        name = ctx.params.get("view_name", REVIEW_VIEW) or None
        items, view = api.review(_target_view(ctx), ctx.params.get("label_field") or api.DEFAULT_LABEL_FIELD,
                                 limit=int(ctx.params.get("limit") or 50), view_name=name)
        if not ctx.delegated and name:
            ctx.trigger("set_view", {"name": name})
        return {
            "items": [
                {"sample_id": sid, "frame_number": it.frame + 1, "score": it.score, "reasons": list(it.reasons)}
                for sid, it in items
            ]
        }

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.list("items", types.Object(), label="Frames to check first")
        return types.Property(outputs)


OPERATORS = (TrackObjects, CorrectObjects, ReviewQueue)
