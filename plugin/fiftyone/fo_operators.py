"""FiftyOne operators: track, correct, review (App forms and execute_operator).

Targets: the current sample, the selected samples, the whole view in one job,
or the whole view as one delegated job per video (``jobs.queue_per_video``:
``fiftyone delegated launch`` workers share them). Long tracking is delegated;
immediate runs report progress. Inputs are validated in the form with a
message saying what to fix; the same checks run again in ``execute``. Models:
``settings`` (form > plugin settings > secrets) and the one cached loader.
"""

from __future__ import annotations

from pathlib import Path

import fiftyone.operators as foo
import fiftyone.operators.types as types

from tam_core.errors import TamError
from tam_core.options import DIRECTIONS

from . import api, jobs, settings
from .review import frames_view_name, review

# Videos with more frames than this (in total) are delegated by default.
DELEGATE_ABOVE_FRAMES = 300
REVIEW_VIEW = "tam-review"
EACH_VIDEO = "EACH_VIDEO"  # target: the whole view, one delegated job per video


def _target_view(ctx):
    target = ctx.params.get("target", "CURRENT_VIEW")
    if target == "SELECTED_SAMPLES" and ctx.selected:
        return ctx.view.select(ctx.selected)
    if target == "CURRENT_SAMPLE" and ctx.current_sample:
        return ctx.view.select(ctx.current_sample)
    return ctx.view


def _target_input(ctx, inputs, per_video=False):
    choices = types.RadioGroup()
    choices.add_choice("CURRENT_VIEW", label="Whole view")
    if per_video:
        choices.add_choice(EACH_VIDEO, label="Whole view, one delegated job per video",
                           description="Each `fiftyone delegated launch` worker takes the next video")
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


def _model_inputs(ctx, inputs) -> bool:
    """Model choice (defaults from plugin settings / secrets) and run options.
    Returns True when the model choice is valid."""
    d = settings.model_defaults(ctx)
    choices, chosen = settings.segmenter_menu(d.sam_type)
    inputs.enum("sam_type", choices, default=chosen, label="Segmenter", view=types.DropdownView())
    sam = inputs.str("sam_checkpoint", default=d.sam_checkpoint, label="SAM checkpoint",
                     description="A local .pth (e.g. fine-tuned); blank: the official weights")
    xmem = inputs.str("xmem_checkpoint", default=d.xmem_checkpoint, label="XMem checkpoint",
                      description="A local .pth; blank: the official weights")
    engines, engine = settings.tracker_menu(d.tracker)
    inputs.enum("tracker", engines, default=engine, label="Tracker", view=types.DropdownView(),
                description="xmem: the CPU choice; sam2: SAM 2.1 (a GPU recommended; needs tam-label[hf])")
    tracker_ckpt = inputs.str("tracker_checkpoint", default=d.tracker_checkpoint, label="Tracker checkpoint",
                              description="Local tracker weights (SAM 2.1: a Hugging Face folder); blank: official")
    inputs.str("cache_dir", default=d.cache_dir, label="Weights cache folder",
               description="Where official weights are downloaded; blank: $TAM_LABEL_CACHE or ~/.cache/tam-label")
    inputs.str("device", default=d.device, label="Device", description="auto, cpu, cuda or cuda:N")
    inputs.bool("refine", default=True, label="SAM refinement", description="Repair frames where tracking degrades")
    inputs.enum("direction", list(DIRECTIONS), default="both", label="Direction", view=types.RadioGroup())
    ok = True
    for prop, key in ((sam, "sam_checkpoint"), (xmem, "xmem_checkpoint"), (tracker_ckpt, "tracker_checkpoint")):
        path = (ctx.params.get(key) or getattr(d, key) or "").strip()
        if path and not Path(path).expanduser().exists():
            prop.invalid, prop.error_message, ok = True, f"no file {path!r}; give an existing one or leave blank", False
    try:
        settings.model_options(ctx.params, d)
    except TamError as exc:
        sam.invalid, sam.error_message, ok = True, str(exc), False
    return ok


def _field_inputs(ctx, inputs) -> bool:
    """Prompt and output field inputs; marks them invalid with what to fix.
    Returns True when both are valid."""
    import fiftyone as fo

    from .sink import check_output_field

    prompt_fields = _frame_fields(ctx, (fo.Keypoints, fo.Detections, fo.Segmentation))
    default_pf = api.DEFAULT_PROMPT_FIELD if api.DEFAULT_PROMPT_FIELD in prompt_fields else (prompt_fields[0] if prompt_fields else None)
    pf_prop = inputs.str("prompt_field", default=default_pf, required=True, label="Prompt field(s)",
                         description="Frame field(s), comma-separated: Keypoints (clicks), Detections (boxes) or "
                                     "Segmentation, e.g. tam_prompts,boxes")
    lf_prop = inputs.str("label_field", default=api.DEFAULT_LABEL_FIELD, label="Output field",
                         description="Frame-level Detections field for the tracked masks")
    ok = True
    fields = ()
    try:
        fields = api.check_prompt_fields(ctx.view, ctx.params.get("prompt_field", default_pf) or "")
        if not any(ctx.view.count(f"frames.{f}") for f in fields):
            names = ", ".join(repr(f) for f in fields)
            what = f"frame field {names} has" if len(fields) == 1 else f"frame fields {names} have"
            raise TamError(f"{what} no prompts in this view; click objects in the Track Anything panel or add Keypoints/boxes")
    except TamError as exc:
        pf_prop.invalid, pf_prop.error_message = True, str(exc)
        ok = False
    try:
        check_output_field(ctx.dataset, ctx.params.get("label_field", api.DEFAULT_LABEL_FIELD) or "", fields)
    except TamError as exc:
        lf_prop.invalid, lf_prop.error_message = True, str(exc)
        ok = False
    return ok


def _prompted(view, fields):
    """The samples of ``view`` with a prompt in any of ``fields``, in view order."""
    from fiftyone import ViewField as F

    ids = set()
    for f in fields:
        ids.update(view.match_frames(F(f) != None).values("id"))  # noqa: E711
    return view.select([i for i in view.values("id") if i in ids], ordered=True)


def _total_frames(view) -> int:
    return int(sum(n or 0 for n in view.values("metadata.total_frame_count")))


class VideoJobOperator(foo.Operator):
    """An operator run on videos: immediately (a generator streaming progress
    and a summary), delegated (a worker), or queued as one delegated job per
    video (target ``EACH_VIDEO``). Subclasses give ``run`` and ``_finish``."""

    delegate_above = DELEGATE_ABOVE_FRAMES  # longer views always go to a worker
    job_kind = "job"  # in the "queued N delegated ..." notification

    def queue_view(self, ctx):
        """The samples to queue one job each for (default: the whole view)."""
        return ctx.view

    def resolve_delegation(self, ctx):
        # Queueing one job per video is quick: run it now. Long videos always
        # go to a worker (immediate runs time out after 600 s); otherwise the
        # user's choice in the App (None = ask).
        if ctx.params.get("target") == EACH_VIDEO:
            return False
        if _total_frames(_target_view(ctx)) > self.delegate_above:
            return True
        return None

    def execute(self, ctx):
        # Immediate runs are generators (execute_as_generator): progress and a
        # summary stream to the App. A delegated run returns its summary.
        if ctx.delegated:
            return self.run(ctx, lambda frac, label: ctx.set_progress(progress=frac, label=label))
        if ctx.params.get("target") == EACH_VIDEO:
            view = self.queue_view(ctx)
            return jobs.with_progress(ctx, lambda report: jobs.queue_per_video(ctx, view, self.uri, dict(ctx.params)),
                                      lambda ids: [ctx.ops.notify(f"queued {len(ids)} delegated {self.job_kind}(s), one "
                                                                  "per video: run `fiftyone delegated launch` on each "
                                                                  "GPU machine")])
        return jobs.with_progress(ctx, lambda report: self.run(ctx, report), lambda out: self._finish(ctx, out))

    def run(self, ctx, report) -> dict:
        raise NotImplementedError

    def _finish(self, ctx, out) -> list:
        raise NotImplementedError


class _TrackBase(VideoJobOperator):
    action = "track"
    spec = ("", "", "")  # (name, label, description) of the operator

    @property
    def config(self):
        # Immediate runs are generators: progress and a summary stream to the App.
        name, label, description = self.spec
        return foo.OperatorConfig(name=name, label=label, description=description, dynamic=True,
                                  execute_as_generator=True, allow_immediate_execution=True,
                                  allow_delegated_execution=True)

    def resolve_input(self, ctx):
        inputs = types.Object()
        _target_input(ctx, inputs, per_video=True)
        _field_inputs(ctx, inputs)
        _model_inputs(ctx, inputs)
        return types.Property(inputs, view=types.View(label=self.config.label))

    def queue_view(self, ctx):
        return _prompted(ctx.view, api.check_prompt_fields(ctx.view, ctx.params.get("prompt_field")))

    def _finish(self, ctx, out):
        skipped = f"; skipped: {'; '.join(out['skipped'])}" if out["skipped"] else ""
        return [ctx.ops.notify(f"{self.action}: {out['tracked']} video(s), {out['frames']} frame(s) written{skipped}",
                               variant="success"),
                ctx.ops.reload_dataset()]

    def run(self, ctx, report) -> dict:
        """Track or correct the target videos; ``report(fraction, label)`` after each batch."""
        view = _target_view(ctx)
        fn = api.track if self.action == "track" else api.correct
        defaults = settings.model_defaults(ctx)
        model_options = settings.model_options(ctx.params, defaults)
        options = settings.run_options(ctx.params)
        ids = view.values("id")
        total = max(len(ids), 1)
        reports = []
        for i, sid in enumerate(ids):
            def progress(sample_id, d, t, i=i):
                report((i + d / max(t, 1)) / total, f"{self.action}: video {i + 1}/{total}, frame {d}/{t}")

            reports += fn(view.select(sid), ctx.params.get("prompt_field"), ctx.params.get("label_field") or api.DEFAULT_LABEL_FIELD,
                          model_options=model_options, options=options, progress=progress)
        return _summary(reports)


def _summary(reports) -> dict:
    out = {"samples": len(reports), "tracked": 0, "frames": 0, "skipped": [], "videos": [], "runs_kept": 0,
           "runs_tracked": 0}
    for r in reports:
        if r.report is None:
            out["skipped"].append(f"{r.filepath}: {r.note}")
        else:
            out["tracked"] += 1
            out["frames"] += r.report.frames_written
            out["videos"].append(r.filepath)
            out["runs_kept"] += r.report.runs_kept  # finished by an earlier, interrupted run of the same job
            out["runs_tracked"] += r.report.runs_tracked
    return out


class TrackObjects(_TrackBase):
    action = "track"
    spec = ("track_objects", "Track Anything: track objects",
            "Segment prompted objects with SAM and track them through the videos")


class CorrectObjects(_TrackBase):
    action = "correct"
    spec = ("correct_objects", "Track Anything: correct and re-track",
            "Re-track only the spans affected by new prompts or edited masks")


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
        inputs.str("view_name", default=REVIEW_VIEW, label="Save as view",
                   description="Saved view with the flagged frames, worst video first; beside it "
                               "NAME-frames: the frames one by one, worst first (opened after the run)")
        return types.Property(inputs, view=types.View(label="Review queue"))

    def execute(self, ctx):
        name = ctx.params.get("view_name", REVIEW_VIEW) or None
        items, view = review(_target_view(ctx), ctx.params.get("label_field") or api.DEFAULT_LABEL_FIELD,
                             limit=int(ctx.params.get("limit") or 50), view_name=name)
        if not ctx.delegated and name:
            ctx.trigger("set_view", {"name": frames_view_name(name)})
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
