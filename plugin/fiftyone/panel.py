"""The "Track Anything" Python panel: click on a frame (shift+click =
negative), see SAM's mask at once, track, then correct a frame the same way.
No JavaScript build: the frame is a Plotly image with an invisible heatmap
that reports click coordinates."""

from __future__ import annotations

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import api, panel_logic as logic, settings


class TrackAnythingPanel(foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(name="track_anything", label="Track Anything", surfaces="grid modal")

    # ---------------------------------------------------------------- state
    def on_load(self, ctx):
        ctx.panel.state.frame = ctx.panel.state.frame or 1
        ctx.panel.state.object_id = ctx.panel.state.object_id or 1
        ctx.panel.state.label = ctx.panel.state.label or "object"
        self._draw(ctx)

    def on_change_current_sample(self, ctx):
        ctx.panel.state.frame = 1
        self._draw(ctx)

    def on_change_frame(self, ctx):
        self._draw(ctx)

    def _sample(self, ctx):
        sid = ctx.current_sample or (ctx.view.first().id if len(ctx.view) else None)
        return ctx.dataset[sid] if sid else None

    def _models(self, ctx):
        """The models the operators' form would pick by default (plugin
        settings / secrets), through the one cached loader: loaded once per
        App server process, shared with the Track/Correct runs."""
        from tam_core.models import get_models

        return get_models(settings.model_options({}, settings.model_defaults(ctx)))

    def _draw(self, ctx, preview=None, image=None):
        """Redraw the current frame; ``image`` is that frame when the caller
        already decoded it (a click decodes its frame once)."""
        sample = self._sample(ctx)
        if sample is None:
            return
        frame_number = int(ctx.panel.state.frame or 1)
        if image is None:
            image = logic.read_frame(sample, frame_number)
        masks = logic.tracked_masks(sample, frame_number, image.shape[:2])
        traces, layout = logic.plot_traces(logic.compose(image, masks, preview, int(ctx.panel.state.object_id or 1)))
        ctx.panel.set_data("frame_plot", traces)
        ctx.panel.state.layout = layout
        ctx.panel.state.status = ctx.panel.state.status or "Click the object (shift+click: not the object)"

    # -------------------------------------------------------------- actions
    def on_click(self, ctx):
        sample = self._sample(ctx)
        if sample is None:
            return
        x, y = ctx.params.get("x"), ctx.params.get("y")
        if x is None or y is None:
            return
        frame_number = int(ctx.panel.state.frame or 1)
        oid = int(ctx.panel.state.object_id or 1)
        segmenter = self._models(ctx).segmenter  # a load error shows before anything is written
        image = logic.read_frame(sample, frame_number)  # the one decode of this click
        h, w = image.shape[:2]
        positive = not bool(ctx.params.get("shift_pressed"))
        known = logic.object_class(sample, oid)  # an object keeps its class
        label = known or ctx.panel.state.label or ""
        logic.add_click(sample, frame_number, oid, label, logic.cell_to_point(x, y, (h, w)), positive, (h, w))
        mask = logic.preview_mask(sample, frame_number, oid, segmenter, image)
        ctx.panel.state.status = f"{'positive' if positive else 'negative'} click at ({int(x)}, {int(y)}) on frame {frame_number}; " \
                                 f"preview: {int(mask.sum()) if mask is not None else 0} pixels" + \
                                 (f"; object {oid} is {known!r}" if known and known != ctx.panel.state.label else "")
        self._draw(ctx, preview=mask, image=image)

    def on_clear(self, ctx):
        sample = self._sample(ctx)
        if sample is not None:
            logic.clear_clicks(sample, int(ctx.panel.state.frame or 1), int(ctx.panel.state.object_id or 1))
        ctx.panel.state.status = "clicks cleared"
        self._draw(ctx)

    def _run(self, ctx, operator):
        sample = self._sample(ctx)
        if sample is None:
            return
        # Through the operator so long videos are delegated like any other run.
        # on_success redraws so the tracked masks show without another click.
        ctx.prompt(f"@tam-label/track-anything/{operator}", params={
            "target": "CURRENT_SAMPLE", "prompt_field": api.DEFAULT_PROMPT_FIELD, "label_field": api.DEFAULT_LABEL_FIELD},
            on_success=self.on_run_done)

    def on_run_done(self, ctx):
        ctx.panel.state.status = "tracked: the masks of this frame are shown; change Frame to check others"
        self._draw(ctx)
        ctx.ops.reload_dataset()  # the App learns the new frame fields (sidebar, looker)

    def on_track(self, ctx):
        self._run(ctx, "track_objects")

    def on_correct(self, ctx):
        self._run(ctx, "correct_objects")

    def on_refresh(self, ctx):
        self._draw(ctx)

    # --------------------------------------------------------------- render
    def render(self, ctx):
        panel = types.Object()
        if self._sample(ctx) is None:
            panel.md("Open a video sample to click objects.", name="empty")
            return types.Property(panel)
        panel.int("frame", label="Frame", default=1, min=1, on_change=self.on_change_frame)
        panel.int("object_id", label="Object id", default=1, min=1)
        panel.str("label", label="Class", default="object")
        panel.plot("frame_plot", layout=ctx.panel.state.layout or {}, on_click=self.on_click, config={"displayModeBar": False},
                   # Numbers would be pixels in the App (PlotlyView passes them to CSS).
                   height="55vh", width="100%")
        panel.md(ctx.panel.state.status or "", name="status")
        row = panel.h_stack("buttons", gap=1)
        row.btn("track", label="Track", on_click=self.on_track, variant="contained")
        row.btn("correct", label="Correct & re-track", on_click=self.on_correct)
        row.btn("clear", label="Clear clicks", on_click=self.on_clear)
        row.btn("refresh", label="Show result", on_click=self.on_refresh)
        return types.Property(panel, view=types.GridView(orientation="vertical", height=100, width=100))
