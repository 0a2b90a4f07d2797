# SPDX-License-Identifier: MIT
"""One xmig migration through the tools: xmig-recv listening on 127.0.0.1:0,
xmig-send to it, both with --json; the two reports are merged and normalised."""
import os
import re
import subprocess
import time

from .common import kill_proc, read_json, tail

STAT_RE = re.compile(r"XG STAT writes=(\d+) checked=(\d+) errors=(\d+)")


def _port(err_path, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(err_path, errors="replace") as f:
                m = re.search(r"\(port (\d+)\)", f.read())
            if m:
                return int(m.group(1))
        except OSError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def write_rate(err_path):
    """Pages/s the guest wrote on the destination, from its 1 s STAT lines."""
    try:
        with open(err_path, errors="replace") as f:
            w = [int(m.group(1)) for m in STAT_RE.finditer(f.read())]
    except OSError:
        return None
    # consecutive STAT lines are 1 s apart; the last one repeats at exit
    d = [b - a for a, b in zip(w, w[1:]) if b > a]
    return round(sum(d) / len(d)) if d else None


def migrate(tools, backend, mem, policy, workdir, *, dirty=None, guest=None, append=None,
            run_before_s=1.0, window_s=5.0, tail_s=1.0, digest=False, downtime_ms=50):
    os.makedirs(workdir, exist_ok=True)
    recv_json = os.path.join(workdir, "recv.json")
    send_json = os.path.join(workdir, "send.json")
    for p in (recv_json, send_json):
        if os.path.exists(p):
            os.unlink(p)
    res = {"ok": False, "error": ""}
    recv_cmd = [os.path.join(tools, "xmig-recv"), "--backend", backend,
                "--listen", "127.0.0.1:0", "--accept-timeout", "120s", "--json", recv_json]
    send_cmd = [os.path.join(tools, "xmig-send"), "--backend", backend, "--mem", str(mem),
                "--policy", policy, "--downtime", str(downtime_ms),
                "--run-before", "%dms" % int(run_before_s * 1000),
                "--json", send_json, "-q"]
    if backend == "kvm":
        # Guest time: run_before + the live-phase limit + a tail on the destination.
        life_s = int(run_before_s + window_s + tail_s + 0.999)
        cmdline = "%s time=%d" % (append, life_s)
        res["guest_cmdline"] = cmdline
        recv_cmd += ["--until-exit", "--exit-timeout", "%ds" % (life_s + 120)]
        send_cmd += ["--guest", guest, "--append", cmdline,
                     "--max-time", "%dms" % int(window_s * 1000)]
    else:
        res["sim_dirty"] = dirty
        recv_cmd += ["--run-after", "%dms" % int(tail_s * 1000)]
        send_cmd += ["--dirty", dirty]
    if digest:
        recv_cmd.append("--require-verify")
        send_cmd.append("--verify")
    rerr = open(os.path.join(workdir, "recv.stderr"), "wb")
    serr = open(os.path.join(workdir, "send.stderr"), "wb")
    rp = sp = None
    try:
        rp = subprocess.Popen(recv_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=rerr)
        port = _port(os.path.join(workdir, "recv.stderr"), rp)
        if port is None:
            raise RuntimeError("xmig-recv did not listen: " +
                               tail(os.path.join(workdir, "recv.stderr"), 3))
        send_cmd += ["--to", "127.0.0.1:%d" % port]
        res["send_cmd"] = " ".join(send_cmd)
        sp = subprocess.Popen(send_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=serr)
        limit = 600 + run_before_s + window_s + tail_s
        src_rc = sp.wait(timeout=limit)
        dst_rc = rp.wait(timeout=limit)
        res["exit_status"] = {"send": src_rc, "recv": dst_rc}
        s = read_json(send_json) if os.path.exists(send_json) else None
        r = read_json(recv_json) if os.path.exists(recv_json) else None
        if s is None or r is None:
            raise RuntimeError("no JSON from %s: %s" % (
                "xmig-send" if s is None else "xmig-recv",
                tail(os.path.join(workdir, "send.stderr" if s is None else "recv.stderr"), 3)))
        res["raw"] = {"send": s, "recv": r}
        tl = s.get("timeline_ms") or {}
        t0 = tl.get("pause_requested")
        if t0 is not None and s.get("ok"):
            # null: that moment never came (docs/json.md)
            res["timeline_ms"] = {k: None if v is None else round(v - t0, 3)
                                  for k, v in tl.items() if k != "pause_requested"}
        res["downtime_ms"] = s.get("downtime_ms") if s.get("ok") else None
        res["digest_ms"] = s.get("digest_ms")
        res["total_ms"] = s.get("total_ms")
        res["bytes"] = s.get("bytes")
        res["rounds"] = s.get("rounds")
        res["converged"] = s.get("converged")
        res["migrated"] = bool(s.get("ok") and r.get("ok"))
        res["per_round"] = [{k: x.get(k) for k in ("round", "final", "pages_dirty",
                                                    "pages_sent", "pages_zero", "bytes",
                                                    "start_ms", "duration_ms")}
                            for x in s.get("per_round", [])]
        res["verify_requested"] = bool(s.get("verify_requested"))
        res["verified"] = r.get("verified") if s.get("verify_requested") else None
        res["guest_downtime_ms"] = r.get("guest_downtime_ms")
        res["heartbeat"] = r.get("heartbeat")
        res["guest_check"] = r.get("guest_check") or ""
        gc_ok = res["guest_check"].startswith("clean")
        if backend == "kvm":
            hb = r.get("heartbeat") or {}
            cont = bool(hb.get("dest_first_seq")) and \
                hb.get("dest_first_seq") == (hb.get("source_last_seq") or -1) + 1
            if gc_ok and not cont:
                res["guest_check"] += "; but the heartbeat does not continue (%s then %s)" % (
                    hb.get("source_last_seq"), hb.get("dest_first_seq"))
            gc_ok = gc_ok and cont
            res["guest_write_rate_pps"] = write_rate(os.path.join(workdir, "recv.stderr"))
        res["guest_check_ok"] = gc_ok
        verify_ok = res["verified"] is not False
        res["ok"] = bool(s.get("ok") and r.get("ok") and src_rc == 0 and dst_rc == 0 and
                         gc_ok and verify_ok)
        if not res["ok"]:
            res["error"] = s.get("error") or r.get("error") or \
                ("guest check: " + res["guest_check"] if not gc_ok else
                 "verification failed" if not verify_ok else
                 "exit status send %s recv %s" % (src_rc, dst_rc))
    except Exception as e:  # noqa: BLE001 - recorded, never raised
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        kill_proc(sp)
        kill_proc(rp)
        rerr.close()
        serr.close()
    return res
