# SPDX-License-Identifier: MIT
"""The xen backend's half of the benchmark: run the nested Xen lab
(tests/xen-lab/run) and turn its alternated xmig / `xl migrate` migrations
into benchmark records.

In the lab, each guest is migrated BENCH_REPS times by `xl migrate` (Xen's
own live migration through libxenguest, to localhost) and by xmig with each
of its policies, in an order that rotates with the repetition. Every figure
of a pair comes from the same boot of the same nested host:
  guest_downtime_ms  the gap between the source domain's last heartbeat and
                     the destination's first, on Xen's console clock (the same
                     measurement for both systems)
  total_ms           the wall time of the migrating command (xl migrate, or
                     xmig's lab driver), domain creation included
  bytes              the stream's bytes (xl: counted by dd in the pipe)
  downtime_ms        xmig's engine downtime; libxl reports none for xl
"""
import os
import subprocess
import time

from .common import log, parse_size, read_json, tail

SYSTEM_POLICY = {"xl": "xl-default", "xmig-downtime": "downtime",
                 "xmig-xen-classic": "xen-classic"}


def lab_dir(arg):
    return os.path.abspath(arg or os.environ.get("XMIG_LAB") or "/var/cache/xmig-xen-lab")


def run(src_root, lab, reps, out, extra_env=""):
    """Run the lab once. Returns (records, status) where status is
    {"rc", "why", "result_dir", "duration_s"}; rc 77 = lab unavailable."""
    env = dict(os.environ)
    env["XMIG_LAB"] = lab
    # keep the lab's own test scenarios short (one repetition of each); the
    # caller's XMIG_LAB_ENV comes last, so it can override
    env["XMIG_LAB_ENV"] = " ".join(x for x in ("REPEAT=1", "BENCH_REPS=%d" % reps, extra_env,
                                                os.environ.get("XMIG_LAB_ENV", "")) if x)
    # no overall time limit: the lab budgets every step from its own
    # calibration on this machine (tests/xen-lab/run --help)
    logf = os.path.join(out, "xen-lab.log")
    t0 = time.monotonic()
    started = time.time()
    log("bench/run: xen: booting the nested Xen lab in %s (10-30 min, by this machine's speed; log %s)" % (lab, logf))
    with open(logf, "w") as f:
        p = subprocess.run([os.path.join(src_root, "tests", "xen-lab", "run")], env=env,
                           stdout=f, stderr=subprocess.STDOUT)
    status = {"rc": p.returncode, "duration_s": round(time.monotonic() - t0, 1),
              "result_dir": os.path.join(lab, "share-xmig", "results"), "why": None,
              "env": env["XMIG_LAB_ENV"]}
    if p.returncode == 77:
        status["why"] = "lab unavailable: " + (tail(logf, 3).strip() or "?")
        return [], status
    path = os.path.join(status["result_dir"], "results.json")
    try:
        if os.path.getmtime(path) < started:
            raise ValueError("results.json is older than this run")
        res = read_json(path)
    except (OSError, ValueError) as e:
        status["why"] = "no lab results (%s); see %s" % (e, logf)
        return [], status
    if p.returncode != 0:
        status["why"] = "the lab's own verdict is FAIL; see %s" % logf
    return records(res, lab), status


def records(res, lab):
    """Benchmark records from a lab results.json."""
    scen = {s["name"]: s for s in res.get("scenarios", [])}
    out = []
    for row in res.get("bench", []):
        s = scen.get(row["name"], {})
        system = row["system"]
        is_xl = system == "xl"
        rec = {
            "id": "xen-%s-%s-%s" % (row["guest"], row["workload"],
                                    "xl" if is_xl else system[len("xmig-"):]) +
                  "-r%d" % row["rep"],
            "system": "xl" if is_xl else "xmig",
            "backend": "xl" if is_xl else "xen",
            "mem": row.get("mem") or "?",
            "mem_bytes": None,
            "workload": "%s-%s" % (row["guest"], row["workload"]),
            "scale": "lab",
            "policy": SYSTEM_POLICY.get(system, system),
            "rep": row["rep"],
            "ok": bool(row["ok"]),
            "migrated": bool(row["ok"]),
            "downtime_ms": row.get("downtime_ms"),
            "guest_downtime_ms": row.get("guest_downtime_ms"),
            "total_ms": row.get("wall_ms"),
            "engine_total_ms": row.get("total_ms"),
            "bytes": row.get("bytes"),
            "rounds": row.get("rounds"),
            "per_round": [{"pages_dirty": n} for n in (s.get("round_pages") or [])] or None,
            "converged": None,
            "verified": row.get("verified"),
            "timeline_ms": None if is_xl else {
                k: s.get(k) for k in ("pause_ms", "final_round_ms", "state_ms", "ready_ms",
                                      "commit_to_done_ms") if s.get(k) is not None},
            "guest_check": None,
            "guest_check_ok": None,
            "error": None if row["ok"] else (s.get("error") or "rc %s" % s.get("rc")),
            "version": "%s (Xen %s)" % ("xl" if is_xl else "xmig, xen backend",
                                       res.get("xen_version") or "?"),
            "lab": lab,
        }
        try:
            rec["mem_bytes"] = parse_size(rec["mem"])
        except ValueError:
            pass
        out.append(rec)
    return out


def complete(rec):
    """Fields a lab record must have when its migration succeeded."""
    if not rec.get("ok"):
        return []
    need = ["guest_downtime_ms", "total_ms", "bytes"]
    if rec["system"] == "xmig":
        need += ["downtime_ms", "rounds"]
    return [k for k in need if rec.get(k) is None]
