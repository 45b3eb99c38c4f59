"""Helpers for the browser test: a FiftyOne App server in its own process
group, headless Chromium (Debian's package), and Plotly geometry in the page.

Playwright's own browser download needs a CDN that CI cannot reach (registries
only), so Chromium comes from ``shutil.which("chromium")``; an App server
outlives its parent, so it is stopped by its own process group.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class AppServer:
    url: str
    log: str

    def log_tail(self) -> str:
        return _tail(self.log)


@contextmanager
def app_server(timeout: float = 60.0, env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """Start ``python -m fiftyone.server.main`` on 127.0.0.1 with this
    process's environment (database, plugins dir, model provider) plus
    ``env`` and yield it; stop its whole process group afterwards."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="fo-app-", suffix=".log", delete=False)
    env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fiftyone.server.main", "--port", str(port), "--address", "127.0.0.1"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"App server exited with {proc.returncode}:\n{_tail(log.name)}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"App server not answering on {url} after {timeout:.0f} s:\n{_tail(log.name)}")
                time.sleep(0.5)
        yield AppServer(url, log.name)
    finally:
        _stop_group(proc)
        log.close()
        os.unlink(log.name)


def _tail(path: str, n: int = 4000) -> str:
    return Path(path).read_text(errors="replace")[-n:]


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the process group the server leads (its own
    session: nothing else is in it)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Page coordinates of plot coordinates (x, y) of the first Plotly plot under
# ``root``, from Plotly's own axis mapping (robust to margins, aspect-ratio
# constraints and scrolling).
_PLOT_TO_PAGE = """([root, x, y]) => {
  const gd = document.querySelector(root + ' .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
  return [r.left + xa._offset + xa.l2p(x), r.top + ya._offset + ya.l2p(y)];
}"""

_PLOT_IMAGE = """(root) => {
  const gd = document.querySelector(root + ' .js-plotly-plot');
  const im = gd && gd._fullLayout.images && gd._fullLayout.images[0];
  return im ? im.source : null;
}"""


def plot_to_page(page, root: str, x: float, y: float) -> tuple[float, float]:
    px, py = page.evaluate(_PLOT_TO_PAGE, [root, x, y])
    return float(px), float(py)


def click_plot(page, root: str, x: float, y: float, shift: bool = False) -> None:
    """Click the plot at pixel (x, y). Plotly reports the point under the last
    hover, so the mouse moves there (in steps) and rests before clicking."""
    px, py = plot_to_page(page, root, x, y)
    page.mouse.move(px - 6, py - 6)
    page.mouse.move(px, py, steps=6)
    page.wait_for_timeout(300)
    if shift:
        page.keyboard.down("Shift")
    try:
        page.mouse.click(px, py)
    finally:
        if shift:
            page.keyboard.up("Shift")


def plot_image(page, root: str) -> np.ndarray | None:
    """uint8 [H,W,3]: the background image the plot currently shows (decoded
    from its data URI), or None."""
    from PIL import Image

    src = page.evaluate(_PLOT_IMAGE, root)
    if not src or not src.startswith("data:image/png;base64,"):
        return None
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


def save_small_png(png: bytes, path: Path, max_bytes: int = 300_000) -> int:
    """Write ``png`` to ``path``; palette-quantise (then halve) until it is
    under ``max_bytes``. Returns the size written."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    data = png
    while len(data) > max_bytes:
        q = im.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        q.save(buf, format="PNG", optimize=True)
        data = buf.getvalue()
        if len(data) > max_bytes:
            im = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)
