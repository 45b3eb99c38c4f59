"""``tam-label cvat agent``: cvat-cli's real agent loop (its worker process
included) against the fake server's function queue (tests/cvat/fake_agent.py),
answering a click request and tracking requests end to end. Models: the
colour doubles + the real Refiner, through ``$TAM_LABEL_MODEL_PROVIDER``
(the spawned worker inherits it)."""

from __future__ import annotations

from urllib.parse import parse_qs

import numpy as np
import pytest

from functions_helpers import inside
from cvat_sdk.masks import decode_mask, encode_mask as sdk_encode_mask
from fake_agent import FakeAgentCvat
from plugin.cli import main
from plugin.cvat.masks import polygon_to_mask

pytest.importorskip("cvat_cli")
pytestmark = pytest.mark.slow  # each run starts cvat-cli's worker process


@pytest.fixture
def server(monkeypatch, tmp_path, video):
    from tam_core.models import PROVIDER_ENV

    import tests.cvat.function_models as function_models

    monkeypatch.setenv(PROVIDER_ENV, function_models.PROVIDER)
    monkeypatch.setenv("CVAT_USERNAME", "alice")
    monkeypatch.setenv("CVAT_PASSWORD", "s3cret-pass")
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # cvat-cli's profile store stays out of the real home
    with FakeAgentCvat() as fake:
        fake.task_id = fake.add_task(video.frames, [{"name": "car"}], mode="annotation")
        yield fake


def agent(fake, function, *extra):
    return main(["cvat", "agent", "--server", fake.url, "--function", function, "--burst", *extra])


def decoded(shape, video):
    h, w = video.size
    if shape["type"] == "polygon":
        return polygon_to_mask(shape["points"], h, w)
    return decode_mask(shape["points"], image_width=w, image_height=h)


def test_click_requests_are_answered_and_a_bad_one_fails_alone(server, video):
    fid = server.add_function("interactor", min_pos_points=1, min_neg_points=0, startswith_box_optional=True)
    tid = server.task_id
    first = server.enqueue(fid, {"type": "interact", "task": tid, "frame": 3, "pos_points": [inside(video, 3, 1)],
                                 "neg_points": [], "obj_bbox": []})
    bad = server.enqueue(fid, {"type": "interact", "task": tid, "frame": 3, "pos_points": [[500.0, 3.0]],
                               "neg_points": [], "obj_bbox": []})
    second = server.enqueue(fid, {"type": "interact", "task": tid, "frame": 6, "pos_points": [inside(video, 6, 2)],
                                  "neg_points": [inside(video, 6, 1)], "obj_bbox": []})

    assert agent(server, "click", "--function-id", str(fid)) == 0

    for ar, frame, obj in ((first, 3, 1), (second, 6, 2)):
        assert server.ars[ar].state == "completed", server.ars[ar].error
        (shape,) = server.ars[ar].result["shapes"]
        assert shape["type"] == "mask" and shape["attributes"] == [{"spec_id": 0, "value": "0.9500"}]
        np.testing.assert_array_equal(decoded(shape, video), video.mask(frame, obj))
    assert server.ars[bad].state == "failed" and server.ars[bad].error == "Unknown error"  # no local detail leaks
    # one frame download per request: the agent's cache is keyed by (task, frame), and the bad click re-used frame 3
    frames = [parse_qs(q) for m, p, q in server.calls("GET", r"/api/tasks/\d+/data$")]
    assert [(f["type"], f["number"]) for f in frames] == [(["frame"], ["3"]), (["frame"], ["6"])]


def test_tracking_requests_are_answered_with_the_states_the_agent_keeps(server, video):
    fid = server.add_function("tracker", supported_shape_types=["mask", "polygon"])
    tid = server.task_id

    def ui(ar):  # after init_tracking, the UI asks for the next frames with the returned states
        if ar.params["type"] != "init_tracking":
            return []
        return [{"type": "track", "task": tid, "frame": f, "states": ar.result["states"]} for f in (3, 4)]

    server.follow_up = ui
    polygon = [float(v) for v in _outline(video.mask(2, 2))]
    init = server.enqueue(fid, {"type": "init_tracking", "task": tid, "frame": 2, "shapes": [
        {"type": "mask", "points": sdk_encode_mask(video.mask(2, 1))}, {"type": "polygon", "points": polygon}]})

    assert agent(server, "track", "--function-id", str(fid)) == 0

    states = server.ars[init].result["states"]
    assert len(states) == 2 and len(set(states)) == 2
    tracks = [ar for ar in server.ars.values() if ar.params["type"] == "track"]
    assert [(ar.params["frame"], ar.state) for ar in tracks] == [(3, "completed"), (4, "completed")]
    for ar in tracks:
        assert ar.result["states"] == states
        masks, polys = ar.result["shapes"]
        assert (masks["type"], polys["type"]) == ("mask", "polygon")
        np.testing.assert_array_equal(decoded(masks, video), video.mask(ar.params["frame"], 1))
        np.testing.assert_array_equal(decoded(polys, video), video.mask(ar.params["frame"], 2))


def _outline(mask):
    from plugin.cvat.functions_track import mask_to_points

    return mask_to_points("polygon", mask)


def test_without_an_id_the_function_is_created_first(server, capsys, monkeypatch):
    for name in ("CVAT_USERNAME", "CVAT_PASSWORD"):  # a personal access token instead: cvat-cli reads it itself
        monkeypatch.delenv(name)
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", server.token)
    assert agent(server, "track", "--no-refine", "--max-live-trackers", "4") == 0
    assert not server.calls("POST", r"/api/auth/login$")
    (fn,) = server.functions.values()
    assert {k: fn[k] for k in ("provider", "kind", "name", "supported_shape_types")} == {
        "provider": "native", "kind": "tracker", "name": "Track Anything: XMem tracker",
        "supported_shape_types": ["mask", "polygon"]}
    assert f"created CVAT function #{fn['id']}" in capsys.readouterr().out
    assert server.calls("POST", r"/requests/acquire$")  # then it served the (empty) queue


def test_function_parameters_carry_the_model_flags(tmp_path):
    from plugin.cli import build_parser
    from plugin.cli.cvat_agent import function_parameters

    ckpt = tmp_path / "sam.pth"
    ckpt.write_bytes(b"checked for existence only")
    args = build_parser().parse_args(["cvat", "agent", "--server", "http://x", "--function", "click",
                                      "--sam-type", "vit_h", "--sam-checkpoint", str(ckpt), "--device", "cuda",
                                      "--fp16", "--no-refine", "--offline"])
    assert function_parameters(args) == [
        "-p", "sam_type=str:vit_h", "-p", f"sam_checkpoint=str:{ckpt}", "-p", "device=str:cuda",
        "-p", "autocast=str:fp16", "-p", "download=bool:false", "-p", "refine=bool:false"]


def test_missing_credentials_fail_in_one_line_before_any_model(monkeypatch, capsys):
    for name in ("CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdin", None)
    assert main(["cvat", "agent", "--server", "http://127.0.0.1:9", "--function", "click"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CVAT_USERNAME" in err[0]
