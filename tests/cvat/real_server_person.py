"""Issue 22's scenarios against a REAL CVAT server (called by real_server_check.py).

A person acts as the 2.23 UI does, over REST: a mask edit is a job-level
``action=update`` with the same id and ``source`` auto -> semi-auto, a label
change keeps ``source="auto"``, a deletion is a job-level ``action=delete``,
a reviewer accepts a job with ``PATCH /api/jobs/{id}``, frames are deleted
with ``PATCH /api/tasks/{id}/data/meta``. Every count comes from the
server's per-job storage.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter


def _mask_points(video, src_frame, oid, trim=0):
    from plugin.cvat.masks import encode_mask

    m = video.mask(src_frame, oid).copy()
    ys, xs = m.nonzero()
    m[ys[:trim], xs[:trim]] = False
    return [float(p) for p in encode_mask(m)]


def _auto(c, tid):
    return [(j, s) for j, s in c.stored(tid) if s["source"] == "auto" and s["type"] == "mask"]


def _one_per_pair(c, tid) -> bool:
    keys = Counter((s["label_id"], s["group"] or 0, s["frame"]) for _, s in _auto(c, tid))
    return max(keys.values(), default=0) == 1


def _nudge_prompt(c, tid, labels):
    """Move the ball's box by one pixel: a changed prompt, so the next run works."""
    j, box = next((j, s) for j, s in c.stored(tid) if s["type"] == "rectangle" and s["label_id"] == labels["ball"])
    moved = [p + (0.5 if i % 2 == 0 else 0.0) for i, p in enumerate(box["points"])]
    c.job_patch(j, "update", [dict(box, points=moved)])


def person_scenarios(c, tid, video, labels, jobs):
    job_of = lambda f: next(j["id"] for j in jobs if j["start_frame"] <= f <= j["stop_frame"])  # noqa: E731
    state = c.work / "state"

    # A. lost state folder / second machine / second address: nothing to do, same ids
    ids = sorted(s["id"] for _, s in _auto(c, tid))
    for what, server, st in (("lost state folder", c.url, None), ("second machine (other state folder)", c.url, "machine-b"),
                             ("second address, fresh state folder", c.url.replace("127.0.0.1", "localhost"), "machine-c")):
        if st is None:
            shutil.rmtree(state, ignore_errors=True)
        rc, out, err = c.cli("track", server, tid, state=(c.work / st) if st else None)
        c.say(f"$ track ({what}) -> exit {rc}\n{out.strip()}{err.strip() and chr(10) + err.strip()}")
        c.expect(rc == 0 and "nothing changed since the last run" in out and "upload 0 masks" in out,
                 f"{what}: our masks recognised, nothing to do")
        c.expect(sorted(s["id"] for _, s in _auto(c, tid)) == ids, f"{what}: same mask ids")

    # B. two runs at once from two machines AND two addresses: one is refused
    _nudge_prompt(c, tid, labels)
    a = c.cli("track", c.url, tid, wait=False, state=c.work / "machine-a")
    seen = False
    for _ in range(600):
        seen = any(str(cm["message"]).startswith("tam-label lease") for cm in c.get("/api/comments", page_size=100)["results"])
        if seen or a.poll() is not None:
            break
        time.sleep(0.05)
    b = c.cli("track", c.url.replace("127.0.0.1", "localhost"), tid, wait=False, state=c.work / "machine-b")
    (_, _), (_, eb) = a.communicate(timeout=900), b.communicate(timeout=900)
    c.say(f"two machines, two addresses at once: exits {a.returncode}, {b.returncode}; B said: {eb.strip()}")
    c.expect(seen and a.returncode == 0 and b.returncode == 1 and "being changed by another tam-label run" in eb
             and eb.strip().count("\n") == 0, "the second machine's run is refused (one line, naming the holder)")
    c.expect(_one_per_pair(c, tid), "no duplicates after two machines at once")

    # C. a person edits and draws DURING a run (forward, batches of 4: frames 26-28 come late)
    _nudge_prompt(c, tid, labels)
    car = labels["car"]
    before = {s["frame"]: (j, s) for j, s in _auto(c, tid) if s["label_id"] == car}
    top = max(s["id"] for _, s in c.stored(tid))
    proc = c.cli("track", c.url, tid, "--direction", "forward", "--batch-size", "4", wait=False)
    acted, late, leased = None, False, None
    for _ in range(2000):
        if proc.poll() is not None:
            break
        if leased is None and any(str(cm["message"]).startswith("tam-label lease")
                                  for cm in c.get("/api/comments", page_size=100)["results"]):
            leased = time.monotonic()  # the run has the task; it reads the annotations next, then loads models
        if (leased and time.monotonic() - leased > 1.0) or any(s["id"] > top for _, s in c.stored(tid) if s["source"] == "auto"):
            j28, m28 = before[28]
            now28 = next((s for _, s in c.stored(tid) if s["id"] == m28["id"]), None)
            late = now28 is None
            edited = _mask_points(video, 28, 1, trim=3)
            if not late:
                c.job_patch(j28, "update", [dict(m28, points=edited, source="semi-auto")])
            drawn = c.job_patch(job_of(27), "create", [{"type": "mask", "frame": 27, "label_id": car, "source": "manual",
                                                        "points": _mask_points(video, 27, 1), "group": 0, "occluded": False,
                                                        "z_order": 0, "rotation": 0.0, "attributes": []}])[0]
            acted = (m28["id"], edited, drawn["id"])
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=900)
    c.say(f"$ track --direction forward --batch-size 4 (a person acts after the first upload) -> exit {proc.returncode}\n{out.strip()}")
    c.expect(acted is not None and not late, "the person acted while the run was still ahead of frames 27-28")
    if acted:
        shapes = {s["id"]: s for _, s in c.stored(tid)}
        kept = shapes.get(acted[0])
        c.expect(kept is not None and kept["points"] == acted[1] and kept["source"] == "semi-auto",
                 "the mask the person edited during the run is kept exactly")
        on27 = [s["id"] for s in shapes.values() if s["frame"] == 27 and s["label_id"] == car and s["type"] == "mask"]
        on28 = [s["id"] for s in shapes.values() if s["frame"] == 28 and s["label_id"] == car and s["type"] == "mask"]
        c.expect(on27 == [acted[2]] and on28 == [acted[0]], "frames 27/28 hold only the person's mask of the car")
        c.expect(proc.returncode == 0 and "changed by a person during this run" in out and "'car'@27 (drawn)" in out
                 and "'car'@28 (edited)" in out, "the summary names both")
    c.expect(_one_per_pair(c, tid), "no duplicates after a person acted during a run")

    # D. deletion and relabel between runs are decisions
    ours = {s["frame"]: (j, s) for j, s in _auto(c, tid) if s["label_id"] == car}
    jd, d5 = ours[5]
    jr, r9 = ours[9]
    c.job_patch(jd, "delete", [d5])
    c.job_patch(jr, "update", [dict(r9, label_id=labels["ball"], attributes=[])])  # the UI keeps source="auto", drops the old label's attributes
    _nudge_prompt(c, tid, labels)
    rc, out, err = c.cli("track", c.url, tid)
    c.say(f"$ track (after a person deleted car@5 and relabelled car@9 to ball) -> exit {rc}\n{out.strip()}")
    now = {s["id"]: s for _, s in c.stored(tid)}
    cars = {s["frame"] for s in now.values() if s["label_id"] == car and s["type"] == "mask" and s["source"] == "auto"}
    c.expect(rc == 0 and 5 not in cars and 9 not in cars, "neither the deleted nor the relabelled car mask is re-created")
    c.expect(now.get(r9["id"], {}).get("label_id") == labels["ball"] and now[r9["id"]]["points"] == r9["points"],
             "the relabelled mask is kept as the person's ball")
    c.expect("deleted by a person (never re-created" in out and "relabelled by a person" in out
             and "'car'@5" in out and "'car'@9 -> 'ball'" in out, "the summary says each")

    # E. an accepted job is left alone
    first = jobs[0]
    c.s.patch(f"{c.url}/api/jobs/{first['id']}", json={"stage": "acceptance", "state": "completed"}).raise_for_status()
    held = sorted((s["id"], tuple(s["points"])) for j, s in c.stored(tid) if j == first["id"])
    _nudge_prompt(c, tid, labels)
    rc, out, err = c.cli("track", c.url, tid, env={"OMP_NUM_THREADS": "2"})
    c.say(f"$ track (job {first['id']} accepted; 2 CPU threads) -> exit {rc}\n{out.strip()}")
    c.expect(rc == 0 and sorted((s["id"], tuple(s["points"])) for j, s in c.stored(tid) if j == first["id"]) == held,
             "the accepted job's shapes are unchanged")
    c.expect(f"accepted/completed jobs left alone (--include-completed to change them): [{first['id']}]" in out,
             "the summary lists the accepted job")
    c.s.patch(f"{c.url}/api/jobs/{first['id']}", json={"stage": "annotation", "state": "in progress"}).raise_for_status()

    # F. overlap frames: one mask per object per frame, in the job the summary names
    named = [line.strip() for line in out.splitlines() if line.strip().startswith("overlap frames") and "in job" in line]
    c.say("  " + "\n  ".join(named))
    ok = bool(named)
    for line in named:
        a, b = (int(x) for x in line.split()[2].rstrip(":").split(".."))
        jid = int(line.split("in job ")[1].split()[0])
        ok &= all(j == jid for j, s in _auto(c, tid) if a <= s["frame"] <= b)
    c.expect(ok and _one_per_pair(c, tid), "overlap frames are stored once, in the job the summary names")

    # G. deleted frames: no masks, no prompts, stale masks removed
    c.s.patch(f"{c.url}/api/tasks/{tid}/data/meta", json={"deleted_frames": [20]}).raise_for_status()
    c.job_patch(job_of(20), "create", [{"type": "points", "frame": 20, "label_id": labels["dog"], "source": "manual",
                                        "points": [10.0, 10.0], "group": 0, "occluded": False, "z_order": 0,
                                        "rotation": 0.0, "attributes": []}])
    stale = sum(1 for _, s in _auto(c, tid) if s["frame"] == 20)
    rc, out, err = c.cli("track", c.url, tid)
    c.say(f"$ track (frame 20 deleted, {stale} of our masks there, a dog click there) -> exit {rc}\n{out.strip()}")
    c.expect(rc == 0 and not any(s["frame"] == 20 for _, s in _auto(c, tid)), "no masks on the deleted frame")
    c.expect(f"deleted frames: 1 prompts there not used, {stale} masks of ours there removed" in out
             and "(3, 20)" not in out, "the summary says so; the click there is no keyframe")

    # H. a no-op re-run stops before loading models; a mask track is named as ignored
    r = c.s.patch(f"{c.url}/api/jobs/{job_of(3)}/annotations", params={"action": "create"},
                  json={"shapes": [], "tags": [], "tracks": [{"frame": 3, "label_id": labels["ball"], "group": 0, "source": "file",
                        "shapes": [{"type": "mask", "frame": 3, "points": _mask_points(video, 3, 2), "outside": False,
                                    "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": []}], "attributes": []}]})
    r.raise_for_status()
    rc, out, err = c.cli("track", c.url, tid)  # the track is not a prompt: still nothing to do
    t0 = time.monotonic()
    rc2, out2, _ = c.cli("track", c.url, tid)
    took = time.monotonic() - t0
    c.say(f"$ track (no change, a mask track added) -> exit {rc}\n{out.strip()}\n$ again -> exit {rc2} in {took:.1f}s")
    c.expect(rc == 0 and "nothing changed since the last run" in out and "1 track; tracks are not read" in out,
             "a no-op re-run does nothing and names the ignored track")
    c.expect(rc2 == 0 and "upload 0 masks" in out2, "and again")

    # I. track after fix keeps fix's masks
    jj, m12 = next((j, s) for j, s in _auto(c, tid) if s["label_id"] == car and s["frame"] == 14)
    c.job_patch(jj, "update", [dict(m12, points=_mask_points(video, 14, 1, trim=2), source="semi-auto")])
    rc, out, err = c.cli("fix", c.url, tid)
    after_fix = sorted((s["id"], tuple(s["points"])) for _, s in _auto(c, tid))
    rc2, out2, _ = c.cli("track", c.url, tid)
    c.say(f"$ fix -> exit {rc}\n{out.strip()}\n$ track -> exit {rc2}\n{out2.strip()}")
    c.expect(rc == 0 and rc2 == 0 and "nothing changed since the last run" in out2
             and sorted((s["id"], tuple(s["points"])) for _, s in _auto(c, tid)) == after_fix,
             "track after fix keeps every mask fix produced")

    # J. without the server record, the run refuses instead of disowning our masks
    for issue in c.get("/api/issues", task_id=tid, page_size=100)["results"]:
        if issue["position"] == [1.0, 1.0, 2.0, 2.0]:
            c.s.delete(f"{c.url}/api/issues/{issue['id']}").raise_for_status()
    rc, out, err = c.cli("track", c.url, tid, "--dry-run")
    c.say(f"$ track --dry-run (record issue deleted) -> exit {rc}: {err.strip()}")
    c.expect(rc == 1 and "no tam-label record on this server claims" in err and err.strip().count("\n") == 0,
             "refused in one line with what to do")
