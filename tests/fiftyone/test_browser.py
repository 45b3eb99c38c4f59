"""End to end in a real browser: the FiftyOne App (its own server process)
in headless Chromium, the Track Anything panel in the sample modal.

Click the red disc of a synthetic H.264 clip (deterministic color doubles via
TAM_LABEL_MODEL_PROVIDER, which the server inherits), shift+click the
background, and check in Python that the keypoints reached the dataset with
the clicked pixel's coordinates and that the panel's image shows the preview
exactly over the disc; then Track through the operator form, check the tracked
masks in the dataset and in the panel on a later frame, and take the
screenshot. ``TAM_UPDATE_SCREENSHOT=1`` also writes it to docs/fiftyone_panel.png.
"""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

from tests.fiftyone.browser_app import (
    CHROMIUM_ARGS, REPO, app_server, chromium_path, click_plot, plot_image, save_small_png,
)
from plugin.fiftyone import panel_logic as logic
from tests.fiftyone.helpers import NUM_FRAMES, SIZE, iou, new_dataset, output_masks
from tests.fiftyone.providers import event_lines


MODAL = "[data-cy=modal-content]"
PANEL = f"{MODAL} [data-cy=panel-content-track_anything]"
DISC = 1  # object 1 of tests.synthetic.default_objects: the red disc
SCREENSHOT = REPO / "docs" / "fiftyone_panel.png"
T = 30_000  # ms: generous per-step timeout on a busy 2-core machine


def _poll(fn, timeout=20.0, every=0.25):
    """fn() until it returns an array or something truthy (returned), or
    timeout (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if isinstance(out, np.ndarray) or out:
            return out
        time.sleep(every)
    return None


def _prompts(ds, frame_number):
    s = ds.first()
    s.reload()
    fr = s.frames[frame_number]
    kps = fr["tam_prompts"] if fr.has_field("tam_prompts") else None
    return [k for k in kps.keypoints if k.index == DISC] if kps else []


def _changed(page, before):
    """bool [H,W]: pixels of the panel's image that differ from ``before``
    (None until the image has been redrawn)."""
    img = plot_image(page, PANEL)
    if img is None or img.shape != before.shape or np.array_equal(img, before):
        return None
    return (img != before).any(axis=2)


def _open_panel(page, timeout=60.0):
    """Open (or select) the Track Anything panel in the modal: whichever of
    its tab, the "+" menu's entry or the "+" button is there, until the panel
    shows. The menu can open before the App has loaded the plugins' panels,
    and a slow click can land after the tab appeared, so no fixed sequence."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    tab = page.locator(f"{MODAL} [data-cy=panel-tab-track_anything]")
    option = page.locator("[data-cy=new-panel-option-track_anything]")
    plus = page.locator(f"{MODAL} [data-cy=new-panel-btn]")
    plot = page.locator(f"{PANEL} .js-plotly-plot .nsewdrag")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for step in (plot, tab, option, plus):
            if step.count() and step.first.is_visible():
                break
        else:
            page.wait_for_timeout(500)
            continue
        if step is plot:
            return
        try:
            step.first.click(timeout=5_000)
        except PlaywrightTimeout:  # it went away meanwhile: look again
            pass
        page.wait_for_timeout(1000)
    pytest.fail("could not open the Track Anything panel in the sample modal")


def _click_until_stored(page, ds, xy, shift, n_before):
    """Click; the first click after page load was lost in earlier runs, so
    click again (up to 3 times) until the dataset holds one more point."""
    for _ in range(3):
        click_plot(page, PANEL, *xy, shift=shift)
        got = _poll(lambda: (k := _prompts(ds, 1)) and len(k[0].points) > n_before and k, timeout=10)
        if got:
            return got[0]
    pytest.fail(f"click at {xy} (shift={shift}) never reached the dataset")


def test_click_grid_maps_back_to_frame_pixels_at_any_scale():
    """What the browser gets: small frames 1:1 (a click is the pixel's
    centre); a 1080p frame downscaled to MAX_SIDE, a click still landing in
    the block of frame pixels under the cursor."""
    import base64
    import io
    from PIL import Image

    traces, layout = logic.plot_traces(np.zeros((96, 128, 3), np.uint8))
    assert np.asarray(traces[0]["z"]).shape == (96, 128) and "x" not in traces[0]
    assert logic.cell_to_point(30, 7, (96, 128)) == (30.5, 7.5)

    h, w = 1080, 1920
    traces, layout = logic.plot_traces(np.zeros((h, w, 3), np.uint8))
    heat = traces[0]
    hs, ws = np.asarray(heat["z"]).shape
    assert (hs, ws) == (360, 640)
    png = Image.open(io.BytesIO(base64.b64decode(layout["images"][0]["source"].split(",", 1)[1])))
    assert png.size == (ws, hs) and (layout["images"][0]["sizex"], layout["images"][0]["sizey"]) == (w, h)
    sx, sy = w / ws, h / hs
    for x0, y0 in [(0, 0), (w - 1, h - 1), (1000, 500), (7, 1070)]:
        j, i = int(x0 // sx), int(y0 // sy)  # the cell drawn over frame pixel (x0, y0)
        px, py = logic.cell_to_point(heat["x"][j], heat["y"][i], (h, w))
        assert (px, py) == pytest.approx(((j + 0.5) * sx, (i + 0.5) * sy))  # the cell's centre
        assert abs(px - (x0 + 0.5)) <= sx / 2 and abs(py - (y0 + 0.5)) <= sy / 2


@pytest.mark.slow
def test_click_preview_track_in_the_app(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("no chromium: apt-get install chromium (Playwright's own browser download does not work here)")
    ds, (video,) = new_dataset(tmp_path)
    ds.persistent = True  # the App server is a second client of this database
    h, w = SIZE
    frame0 = video.decoded[0]
    disc = video.mask(0, DISC)
    ys, xs = np.nonzero(disc)
    target = (int(round(xs.mean())), int(round(ys.mean())))  # the disc's centre pixel
    background = (w - 4, 3)  # top-right corner: no object there on frame 1
    assert not video.gt[0, background[1], background[0]]

    # The server loads models through tests.fiftyone.providers:observed_models,
    # which logs each model load and each frame decoded in the server process.
    events = tmp_path / "events.txt"
    env = {"TAM_LABEL_MODEL_PROVIDER": "tests.fiftyone.providers:observed_models", "TAM_TEST_EVENTS": str(events)}
    try:
        with app_server(env=env) as server, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(T)
            try:
                _run(page, server, ds, video, frame0, disc, target, background, tmp_path, events)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"))
                print(f"screenshot of the failure: {tmp_path / 'failure.png'}\nApp server log:\n{server.log_tail()}")
                raise
            finally:
                browser.close()
    finally:
        ds.delete()


def _correct_box_object_from_the_panel(page, ds, video, last):
    """Object 2 (the rectangle) was tracked from a box on FiftyOne frame 4 in
    another field (`boxes`); a click on it in the panel on the last frame and
    *Correct & re-track* re-track only the frames nearer the click, and the box
    keyframe stays (issue 12: the panel corrects from tam_prompts alone)."""
    from plugin.fiftyone import api
    from plugin.fiftyone.convert import SOURCE_ATTR
    from tests.fiftyone.helpers import add_box, centre_point

    s = ds.first()
    add_box(s, video, 2, 3)
    api.track(ds, "tam_prompts,boxes")  # as the operator form with both fields would
    before = output_masks(ds.first())
    assert sorted(f for o, f in before if o == 2) == list(range(NUM_FRAMES))
    ids_before = _detection_ids(ds, 2)
    page.locator(f"{PANEL} input[type=number]").nth(1).fill("2")  # Object id
    page.wait_for_timeout(500)
    nx, ny = centre_point(video, 2, last)
    h, w = SIZE
    xy = (int(nx * w), int(ny * h))
    for _ in range(3):  # a click can be lost right after an input changed
        click_plot(page, PANEL, *xy)
        if _poll(lambda: any(k.index == 2 for k in _prompts_on(ds, last + 1)), timeout=10):
            break
    else:
        pytest.fail("the click on object 2 never reached the dataset")
    page.locator(PANEL).get_by_text(re.compile(r"positive click at .* on frame 12")).wait_for()
    page.locator(f"{PANEL} button").filter(has_text=re.compile(r"^Correct & re-track$")).click()
    page.locator("button").filter(has_text=re.compile(r"^Execute$")).click()
    page.locator(PANEL).get_by_text(re.compile(r"^tracked:")).wait_for(timeout=90_000)
    after = output_masks(ds.first())
    # keyframes 4 and 12 (FiftyOne): frames 1..8 keep the box's labels, only 9..12 are rewritten from the click
    ids_after = _detection_ids(ds, 2)
    assert [fn for fn in ids_before if ids_after[fn] != ids_before[fn]] == [9, 10, 11, 12]
    assert all(np.array_equal(after[(2, f)], before[(2, f)]) for f in range(8))
    assert all(np.array_equal(after[(DISC, f)], before[(DISC, f)]) for f in range(NUM_FRAMES))
    s = ds.first()
    s.reload()
    kf = next(d for d in s.frames[4]["tam_tracks"].detections if d.index == 2)
    assert kf[SOURCE_ATTR] == "boxes"


def _detection_ids(ds, oid):
    """FiftyOne frame number -> id of object ``oid``'s tracked detection."""
    s = ds.first()
    s.reload()
    return {fn: d.id for fn, fr in s.frames.items() for d in (fr["tam_tracks"].detections if fr["tam_tracks"] else [])
            if d.index == oid}


def _prompts_on(ds, frame_number, field="tam_prompts"):
    s = ds.first()
    s.reload()
    fr = s.frames[frame_number]
    return fr[field].keypoints if fr.has_field(field) and fr[field] is not None else []


def _decodes(events, since=0):
    lines = event_lines(events)
    return sum(e.startswith("decode") for _, e in lines[since:]), len(lines)


def _run(page, server, ds, video, frame0, disc, target, background, tmp_path, events):
    h, w = SIZE
    # ?id= opens the sample modal directly.
    page.goto(f"{server.url}/datasets/{ds.name}?id={ds.first().id}", wait_until="load")
    page.locator(f"{MODAL} [data-cy=panel-tab-fo-sample-modal-plugin]").wait_for()
    _open_panel(page)
    page.locator(f"{PANEL} .js-plotly-plot .nsewdrag").wait_for()
    shown = _poll(lambda: plot_image(page, PANEL))
    assert shown is not None and shown.shape == (h, w, 3)
    assert np.array_equal(shown, frame0), "the panel should show frame 1 as decoded, before any click"

    # Positive click on the disc: a SAM 2 keypoint at the clicked pixel's centre.
    kp = _click_until_stored(page, ds, target, shift=False, n_before=0)
    assert kp.label == "object" and set(kp["sam2_labels"]) == {1}
    for nx, ny in kp.points:  # one point, unless a retried click was delivered late
        assert abs(nx * w - (target[0] + 0.5)) <= 1.0 and abs(ny * h - (target[1] + 0.5)) <= 1.0, (kp.points, target)
    # The preview is drawn over exactly the disc: the image changed there and nowhere else.
    changed = _poll(lambda: _changed(page, frame0))
    assert changed is not None, "no preview drawn after the click"
    assert iou(changed, disc) > 0.9, f"preview covers {changed.sum()} px, disc {disc.sum()} px"
    page.locator(PANEL).get_by_text(re.compile(r"positive click at \(\d+, \d+\) on frame 1; preview: \d+ pixels")).wait_for()

    # Shift+click on the background: a negative point; the object stays the disc.
    # A click decodes its frame once (stores the point, previews, redraws).
    n = len(kp.points)
    _, mark = _decodes(events)
    kp = _click_until_stored(page, ds, background, shift=True, n_before=n)
    assert kp["sam2_labels"][:n] == [1] * n and set(kp["sam2_labels"][n:]) == {0}
    nx, ny = kp.points[-1]
    assert abs(nx * w - (background[0] + 0.5)) <= 1.0 and abs(ny * h - (background[1] + 0.5)) <= 1.0, (kp.points, background)
    page.locator(PANEL).get_by_text(re.compile(r"negative click at")).wait_for()
    assert iou(_changed(page, frame0), disc) > 0.9
    assert _decodes(events, mark)[0] == len(kp.points) - n, event_lines(events)[mark:]

    # Track: the panel opens the operator's form, prefilled for the current sample.
    page.locator(f"{PANEL} button").filter(has_text=re.compile(r"^Track$")).click()
    page.locator("button").filter(has_text=re.compile(r"^Execute$")).click()
    page.locator(PANEL).get_by_text(re.compile(r"^tracked:")).wait_for(timeout=90_000)
    masks = output_masks(ds.first())
    assert sorted(f for (oid, f) in masks if oid == DISC) == list(range(NUM_FRAMES))
    assert min(iou(masks[(DISC, f)], video.mask(f, DISC)) for f in range(NUM_FRAMES)) > 0.8
    # One model load in the server for every click, the preview and the Track run.
    assert [e for _, e in event_lines(events)].count("load") == 1

    # Frame 1 now shows the tracked mask; a later frame shows it where the disc moved to.
    assert iou(_changed(page, frame0), disc) > 0.9
    last = NUM_FRAMES - 1
    before = plot_image(page, PANEL)
    page.locator(f"{PANEL} input[type=number]").first.fill(str(last + 1))
    assert _poll(lambda: not np.array_equal(plot_image(page, PANEL), before)), "the Frame input did not redraw the panel"
    moved = _changed(page, video.decoded[last])
    assert moved is not None and iou(moved, video.mask(last, DISC)) > 0.8
    assert iou(video.mask(last, DISC), disc) < 0.5  # it did move

    _correct_box_object_from_the_panel(page, ds, video, last)

    # The open modal does not pick up new frame fields; reopened (as a user
    # would), the App's own player shows the tracked masks as native labels.
    page.reload(wait_until="load")
    page.locator(f"{PANEL} .js-plotly-plot .nsewdrag").wait_for()
    page.locator(f'{MODAL} [data-cy="sidebar-field-frames.tam_tracks"]').wait_for()
    _poll(lambda: _changed(page, frame0))  # the panel redrew frame 1 with its mask
    page.wait_for_timeout(1500)  # let the player draw the labels before the screenshot
    shot = page.locator(MODAL).screenshot()
    out = tmp_path / "fiftyone_panel.png"
    assert save_small_png(shot, out) < 300_000
    if os.environ.get("TAM_UPDATE_SCREENSHOT") == "1":
        save_small_png(shot, SCREENSHOT)
