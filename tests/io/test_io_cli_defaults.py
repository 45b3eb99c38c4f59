"""One default per option: the CLI's batch sizes are RunOptions' own, not a
second number written beside each flag."""

from __future__ import annotations

import pytest

from plugin.cli import build_parser
from plugin.cli.model_args import run_options
from tam_core.options import RunOptions


@pytest.mark.parametrize("argv", [
    ["track", "video.mp4", "--out", "masks", "--point", "0:1:5,5"],
    ["cvat", "track", "--server", "http://localhost:8080", "--task", "1"],
    ["cvat", "fix", "--server", "http://localhost:8080", "--task", "1"],
])
def test_cli_batch_size_default_is_run_options_default(argv):
    args = build_parser().parse_args(argv)
    assert run_options(args).batch_size == RunOptions().batch_size
    assert run_options(args) == RunOptions()


def test_cli_batch_size_flag_still_wins():
    args = build_parser().parse_args(["track", "v.mp4", "--out", "o", "--batch-size", "3"])
    assert run_options(args).batch_size == 3


def test_help_states_the_one_default(capsys):
    for argv in (["track", "-h"], ["cvat", "track", "-h"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert f"(default {RunOptions().batch_size}, RunOptions' default)" in text
