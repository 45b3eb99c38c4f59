"""The plugin's entry point: operators and the panel registered, a broken
panel module an error (never silently no panel)."""

from __future__ import annotations

import logging
import sys

import pytest


class _Registry:
    def __init__(self):
        self.names = []

    def register(self, cls):
        self.names.append(cls.__name__)


def test_register_offers_the_operators_and_the_panel():
    from plugin import register
    from plugin.fiftyone import all_operators

    reg = _Registry()
    register(reg)
    assert reg.names == [op.__name__ for op in all_operators()] + ["TrackAnythingPanel"]


def test_a_broken_panel_import_is_raised_not_swallowed(monkeypatch):
    from plugin import register

    monkeypatch.delitem(sys.modules, "plugin.fiftyone.panel", raising=False)
    monkeypatch.setitem(sys.modules, "plugin.fiftyone.panel", None)  # importing it raises ImportError
    with pytest.raises(ImportError, match="plugin.fiftyone.panel"):
        register(_Registry())


def test_a_fiftyone_without_panels_gets_the_operators_and_a_warning(monkeypatch, caplog):
    import fiftyone.operators as foo

    from plugin import register
    from plugin.fiftyone import all_operators

    monkeypatch.delattr(foo, "Panel")
    reg = _Registry()
    with caplog.at_level(logging.WARNING, logger="plugin.fiftyone"):
        register(reg)
    assert reg.names == [op.__name__ for op in all_operators()]
    assert "no panel API" in caplog.text
