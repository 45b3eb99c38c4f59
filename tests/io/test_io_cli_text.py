"""What the command line prints: progress in logs, rates, help texts, error details."""

from __future__ import annotations

import io
import re

import pytest

from operators.progress import ProgressReporter, RunProgress, format_duration, format_rate
from plugin.cli import main
from tam_core.errors import CheckpointError, brief


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_in_a_log_is_periodic_lines_with_rate_and_eta():
    clock, stream = _Clock(), io.StringIO()
    rep = ProgressReporter(120, stream=stream, every_s=30, clock=clock)  # StringIO: not a terminal
    for done in range(1, 121):
        clock.now = 25.0 * done  # a slow CPU: 25 s a frame
        rep.update(done)
    rep.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "tracking: 2/120 frames (1%), 25 s/frame, ETA 49m10s"  # first line after 30 s
    assert lines[1] == "tracking: 4/120 frames (3%), 25 s/frame, ETA 48m20s"
    assert len(lines) == 60 and lines[-1] == "tracking: 120/120 frames (100%), 25 s/frame, took 50m00s"
    assert not any("frames/s" in ln for ln in lines)


def test_progress_lines_are_spaced_and_silent_when_there_is_nothing_to_do():
    clock, stream = _Clock(), io.StringIO()
    rep = ProgressReporter(100, stream=stream, every_s=30, clock=clock)
    for done in range(1, 101):
        clock.now = 0.5 * done  # 2 frames/s: a line every 30 s = every 60 frames
        rep.update(done)
    rep.close()
    assert stream.getvalue().splitlines() == [
        "tracking: 60/100 frames (60%), 2 frames/s, ETA 20s",
        "tracking: 100/100 frames (100%), 2 frames/s, took 50s",
    ]
    quiet = io.StringIO()
    with ProgressReporter(0, stream=quiet, every_s=0, clock=clock) as rep:
        rep.update(0)
    assert quiet.getvalue() == ""  # a resume with nothing left prints no "0.0 frames/s"


def test_run_progress_learns_the_total_from_the_first_call(capsys):
    with RunProgress("task 7") as progress:
        for done in range(0, 6):
            progress(done, 5)
    assert progress.reporter.total == 5
    assert re.fullmatch(r"task 7: 5/5 frames \(100%\), \S+ (frames/s|s/frame), took 0s\n", capsys.readouterr().err)
    with RunProgress(enabled=False) as quiet:
        quiet(3, 5)
    assert capsys.readouterr().err == ""
    RunProgress().close()  # never called (nothing planned): nothing to close


def test_rates_keep_three_digits_and_switch_to_seconds_per_frame():
    assert format_rate(1, 25) == "25 s/frame" and format_rate(10, 4) == "2.5 frames/s"
    assert format_rate(48, 1.9) == "25.3 frames/s" and format_rate(2, 3) == "1.5 s/frame"
    assert format_rate(0, 0) == "-" and format_rate(5, 0) == "-"
    assert format_rate(17700, 1) == "17700 frames/s" and format_rate(999, 1) == "999 frames/s"  # no exponent
    assert format_duration(59.4) == "59s" and format_duration(185) == "3m05s" and format_duration(7620) == "2h07m"


def test_track_help_has_examples_direction_and_conventions(capsys):
    with pytest.raises(SystemExit):
        main(["track", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "tam-label track video.mp4 --out masks/ --point 0:1:320,240" in text
    assert "frames are 0-based; coordinates are pixels" in text
    assert "--direction {forward,backward,both}" in text and "nearest keyframe" in text
    assert "--sam-type {vit_b,vit_l,vit_h,tiny}" in text and "``" not in text


def test_every_listed_command_imports_and_help_lists_exactly_them():
    import argparse
    import importlib

    from plugin.cli import _COMMANDS, build_parser

    for name in _COMMANDS:  # a missing or broken module is an error, never skipped
        assert callable(importlib.import_module(f"plugin.cli.{name}_cmd").add_parser), name
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(_COMMANDS) == ["demo", "track", "export", "eval", "weights", "cvat"]


def test_error_details_are_cut_between_items_never_inside_one():
    keys = ", ".join(f'"image_encoder.blocks.{i}.attn.qkv.weight"' for i in range(20))
    text = f"Missing key(s) in state_dict: {keys}."
    short = brief(text)
    assert len(short) <= 164 and short.endswith(" ...")
    assert short.count('"') % 2 == 0 and set(re.findall(r'"([^"]*)"', short)) <= {
        f"image_encoder.blocks.{i}.attn.qkv.weight" for i in range(20)}
    assert brief("first line\nsecond") == "first line" and brief("x" * 200, 10) == "x" * 10 + " ..."


def test_sam_checkpoint_mismatch_names_whole_keys(tmp_path):
    import torch

    from tam_core.segmenters.sam import SamConfig, build_sam, load_sam

    state = build_sam(SamConfig.tiny()).state_dict()
    state = {k.replace("image_encoder", "image_encode"): v for k, v in state.items()}  # a wrong file
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_sam("tiny", path, "cpu")
    msg = str(err.value)
    real = set(build_sam(SamConfig.tiny()).state_dict())
    quoted = re.findall(r'"([^"]*)"', msg)
    assert quoted and set(quoted) <= real | set(state), msg
    assert msg.count('"') % 2 == 0 and msg.endswith("check the model type or the file")


@pytest.mark.parametrize("argv, message", [
    (["track", "clip.mp4", "--out", "o", "--sam-type", "huge"], "argument --sam-type: invalid choice: 'huge'"),
    (["track", "clip.mp4"], "the following arguments are required: --out"),
    (["cvat", "track", "--task", "3"], "tam-label cvat track: error: the following arguments are required: --server"),
    (["track", "clip.mp4", "--out", "o", "--bogus"], "tam-label: error: unrecognized arguments: --bogus"),
    (["weights", "frobnicate"], "tam-label weights: error: argument ACTION: invalid choice: 'frobnicate'"),
])
def test_usage_mistakes_are_one_line_naming_the_command(capsys, argv, message):
    from plugin.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and message in err, err
    assert err.startswith("tam-label") and err.rstrip().endswith("--help`")
