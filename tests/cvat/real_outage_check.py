"""Issue 22 item 10 against a real CVAT server, without restarting it: a
loopback TCP proxy in front of the server goes away (listener and open
connections closed) on the 5th frame download for DOWN_S seconds and comes
back on the same port, while ``tam-label cvat track`` (colour-double models)
runs through it on a fresh 20-frame task (deleted afterwards).

    CVAT_USERNAME=admin CVAT_PASSWORD=... python tests/cvat/real_outage_check.py \\
        --server http://127.0.0.1:8080 --down 24 --window 60   # bridged: rc 0
    ... --down 20 --window 5                                   # rc 1, the one-line error

Expect on stderr one "CVAT unreachable since ..." line, then "CVAT
reconnected after N s" (or the error), and no "Retrying" line.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]


class Proxy:
    """127.0.0.1:<port> -> upstream; :meth:`down` closes everything for ``down_s`` seconds."""

    def __init__(self, upstream: tuple[str, int], down_s: float, down_at: int = 5):
        self.upstream, self.down_s, self.down_at = upstream, down_s, down_at
        self.frames, self.socks, self.lock, self.port = 0, [], threading.Lock(), 0
        self.start()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.ls, self.port = ls, ls.getsockname()[1]
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, to_server: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if to_server and b"type=frame" in data:
                self.frames += 1
                if self.frames == self.down_at:
                    self.down()
                    return
            if not data:
                _close(src, dst)
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def down(self) -> None:
        print(f"proxy down at {time.strftime('%H:%M:%S')} for {self.down_s:.0f} s", flush=True)
        _close(self.ls)  # shutdown first: it wakes the thread blocked in accept()
        with self.lock:
            _close(*self.socks)
            self.socks = []

        def back():
            time.sleep(self.down_s)
            self.start()
            print(f"proxy up at {time.strftime('%H:%M:%S')}", flush=True)

        threading.Thread(target=back, daemon=True).start()


def _close(*socks) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def main() -> int:
    from real_server_check import Check
    from tests.synthetic import make_video

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="http://127.0.0.1:8080")
    ap.add_argument("--down", type=float, default=24.0, help="seconds the proxy stays down")
    ap.add_argument("--window", type=float, default=60.0, help="--reconnect-window given to track")
    args = ap.parse_args()
    check = Check(args.server, os.environ["CVAT_USERNAME"], os.environ["CVAT_PASSWORD"], Path(tempfile.mkdtemp()))
    video = make_video(num_frames=20)
    tid = check.create_task(video)
    try:
        car = next(lab["id"] for lab in check.get("/api/labels", task_id=tid)["results"] if lab["name"] == "car")
        ys, xs = video.mask(0, 1).nonzero()
        click = {"type": "points", "frame": 0, "label_id": car, "points": [float(xs[len(xs) // 2]), float(ys[len(ys) // 2])],
                 "source": "manual", "attributes": [], "group": 0, "occluded": False, "z_order": 0}
        job = check.jobs(tid)[0]["id"]
        check.s.patch(f"{check.url}/api/jobs/{job}/annotations", params={"action": "create"},
                      json={"shapes": [click], "tracks": [], "tags": []}).raise_for_status()
        url = urlsplit(args.server)
        proxy = Proxy((url.hostname, url.port or 80), args.down)
        env = dict(os.environ, TAM_LABEL_CACHE=tempfile.mkdtemp(), TAM_LABEL_MODEL_PROVIDER="tests.providers:color_models",
                   PYTHONPATH=str(HERE.parents[1]))
        cmd = [sys.executable, "-m", "plugin.cli", "cvat", "track", "--server", f"http://127.0.0.1:{proxy.port}",
               "--task", str(tid), "--no-progress", "--reconnect-window", str(args.window)]
        t0 = time.monotonic()
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        print(f"rc {run.returncode} after {time.monotonic() - t0:.1f} s\n--- stdout\n{run.stdout}--- stderr\n{run.stderr}---")
        outage = [line for line in run.stderr.splitlines() if "unreachable since" in line]
        ok = len(outage) == 1 and "Retrying" not in run.stderr
        print("OK" if ok else "FAIL: want exactly one outage line and no Retrying lines")
        return 0 if ok else 1
    finally:
        check.s.delete(f"{check.url}/api/tasks/{tid}")


if __name__ == "__main__":
    sys.exit(main())
