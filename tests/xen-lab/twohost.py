#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The two-host seed scenario's results (dom0-twohost.sh): a table of the
migrations, xmig's helper beside Xen's own, and the verdict CI counts.

Usage: twohost.py RESULTS_DIR [--verdict TIER] [--running STEP] [--cut-short WHY]

It also writes ping-rtt.dat: for the first migration that succeeded on each
engine (and disk), the ping's round-trip time against the time since the
migration began (the slowest reply of each quarter second), and, where
gnuplot is installed, ping-rtt.svg from it.

A migration passes when xl said so, the guest then runs on the other host
(and on that one only), answers ping, its TCP stream from xen01 lives, its
disk checker (on the DRBD or the AoE disk) saw no error, and, on DRBD, the
resource holds one primary, on the host that runs it, and the guest's
gratuitous ARP after the go was seen on xen01's bridge (what moves the
traffic to its new port). A failed migration on Xen's own helper is the
reference's failure: skipped, not counted against xmig.

A fault (fault_kind) passes when it fired and the guest ends on exactly one
host, sound there: on xen01 with xl failed, or, for link-ready and
link-promoted only (the link is back before xl gives up), on xen02 with xl
succeeded. The faults on Xen's own helper are the comparison: their failures
are skipped, with why.

A migration by xmig's own tools (tools_kind: xmig-send on one host, xmig-recv
on the other, a guest without devices) passes when both tools exited 0, the
receiver's JSON says the digest matched (--verify), the guest then runs on
the other host alone, beats there, and its working-set checker saw no error.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import (PING_REPLY, STAMP, XL_PHASES, garp, load_scenarios,  # noqa: E402
                       ping_stats, xl_phases_of)


def kind(s):
    """The migration's disk ("drbd" in results from before AoE)."""
    return s.get("disk_kind", "drbd")


def groups(rows):
    """(disk, engine, the migrations of that pair xl called successful), for
    each pair that has any, disks in name order, xmig first."""
    for k in sorted({kind(s) for s in rows}):
        for h in ("xmig", "stock"):
            ok = [s for s in rows if s["helper"] == h and s.get("rc") == 0 and kind(s) == k]
            if ok:
                yield k, h, ok


def phases(rdir, s):
    """Where one migration's time went: both ends' stamped xl logs
    (NAME.send.log, NAME.recv.log) merged on one clock, xen02's stamps moved
    by the offset the driver measured (clock_b_minus_a_ms), then split as
    the one-host lab splits its single log. None without stamps."""
    off = (s.get("clock_b_minus_a_ms") or 0) / 1000.0
    lines = []
    for end in ("send", "recv"):
        on_b = (end == "send") == (s.get("from") == "b")
        try:
            with open(os.path.join(rdir, "%s.%s.log" % (s["name"], end)),
                      errors="replace") as f:
                for m in map(STAMP.match, f.read().splitlines()):
                    if m:
                        lines.append((float(m.group(1)) - (off if on_b else 0), m.group(2)))
        except (OSError, ValueError):
            pass
    lines.sort(key=lambda l: l[0])
    return xl_phases_of([("%.6f" % w, t) for w, t in lines])


def rtts(rdir, name):
    """NAME.ping: (seconds since the first line's reply, rtt ms) per reply."""
    out = []
    try:
        with open(os.path.join(rdir, name + ".ping"), errors="replace") as f:
            for line in f:
                m = PING_REPLY.match(line)
                t = line.rsplit("time=", 1)
                if m and len(t) == 2:
                    out.append((float(m.group(1)), float(t[1].split()[0])))
    except (OSError, ValueError):
        return []
    return [(round(t - out[0][0], 3), r) for t, r in out] if out else []


def plot(rdir, scen):
    """ping-rtt.dat (one gnuplot block per engine and disk) and, with
    gnuplot, ping-rtt.svg; returns the names of the migrations plotted."""
    picked = []
    for k in ("drbd", "aoe"):
        for h in ("xmig", "stock"):
            s = next((s for s in scen if s.get("helper") == h and s.get("rc") == 0 and
                      kind(s) == k and judge(s)[0] == "pass"), None)
            r = rtts(rdir, s["name"]) if s else []
            if r:
                picked.append((s, r))
    if not picked:
        return []
    dat = os.path.join(rdir, "ping-rtt.dat")
    with open(dat, "w") as f:
        for s, replies in picked:
            f.write("# %s (%s on %s)\n" % (s["name"], s["helper"], kind(s)))
            # the slowest reply of each 0.25 s (a plot of every reply of a
            # minutes-long migration would be megabytes)
            bins = {}
            for t, r in replies:
                b = int(t * 4)
                bins[b] = max(bins.get(b, 0.0), r)
            for b in sorted(bins):
                f.write("%.2f %s\n" % (b / 4.0, bins[b]))
            f.write("\n\n")
    if shutil.which("gnuplot"):
        curves = ", ".join("'%s' index %d using 1:2 with points pt 7 ps 0.3 title '%s on %s (%s)'"
                           % (dat, i, s["helper"], kind(s), s["name"])
                           for i, (s, _) in enumerate(picked))
        script = ("set terminal svg size 900,420 dynamic font 'sans,11'\n"
                  "set output '%s'\n"
                  "set xlabel 'seconds since the migration began (a ping every 10 ms; "
                  "a gap is replies lost)'\n"
                  "set ylabel 'round trip ms (slowest of each 0.25 s)'\nset logscale y\nset key top left\n"
                  "plot %s\n" % (os.path.join(rdir, "ping-rtt.svg"), curves))
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
    return [s["name"] for s, _ in picked]


def load(rdir):
    out = load_scenarios(rdir)
    for d in out:
        if d.get("tools_kind"):
            for end in ("send", "recv"):
                try:
                    with open(os.path.join(rdir, "%s.%s-json" % (d["name"], end))) as f:
                        d[end] = json.load(f)
                except (OSError, ValueError):
                    pass
            continue
        p = ping_stats(rdir, d["name"])
        if p:
            d["ping"] = p
        if d.get("helper") and not d.get("not_run"):
            ph = phases(rdir, d)
            if ph and len(ph) > 1:
                d["xl_phases"] = ph
            # the guest's gratuitous ARP after the go, seen on xen01's bridge
            if d.get("rc") == 0 and ph:
                m = ph.get("marks", {})
                g = garp(rdir, d["name"], m.get("permitted", m.get("start")))
                if g is not None:
                    d["garp"] = g
    return out


def devices_sound(s, host):
    """The guest's devices where it runs (host "1" or "2"), and DRBD's
    state: None, or why not."""
    if not s.get("ping_after"):
        return "the guest does not answer ping afterwards"
    if not s.get("tcp_alive"):
        return "the TCP stream from xen01 died"
    if s.get("disk_errors"):
        return "the disk checker reported %s errors" % s["disk_errors"]
    if not s.get("disk"):
        return "no word from the disk checker on xen0%s" % host
    if kind(s) != "drbd":
        return None
    roles = (s.get("drbd_xen01") or "", s.get("drbd_xen02") or "")
    want = ("Primary", "Secondary") if host == "1" else ("Secondary", "Primary")
    if not all(r.startswith(w) for r, w in zip(roles, want)):
        return "DRBD roles after it: xen01 %s, xen02 %s" % roles
    if s.get("split_brains", "0/0") != "0/0":
        return "DRBD reported split brain (dmesg 'Split-Brain detected', xen01/xen02: %s)" % \
            s["split_brains"]
    if s.get("drbd_cstate", "Connected/Connected") != "Connected/Connected":
        return "DRBD not connected afterwards (xen01/xen02: %s)" % s["drbd_cstate"]
    return None


def garp_seen(s):
    """None, or why the guest's announcement after the go is missing."""
    g = s.get("garp")
    if g is None:
        return "no record of the guest's ARPs after the go (%s.arp, or the go's time " \
            "in the xl logs)" % s["name"]
    if not g.get("count"):
        return "no gratuitous ARP from the guest seen on xen01's bridge after the go " \
            "(%s ARP packets of its)" % g.get("arp_count", 0)
    return None


def judge_fault(s):
    """A fault must stop the migration and leave the guest on xen01 alone;
    after link-ready, xl may also have gone through once the link came back,
    the guest then on xen02 alone. On Xen's own helper, a failure is the
    comparison's: skipped with why."""
    st, why = judge_fault_xmig(s)
    if st == "fail" and s.get("helper") == "stock":
        return "skip", "the reference (Xen's own helper) fails this fault too: " + why
    return st, why


def judge_fault_xmig(s):
    f = (s.get("fault") or "").strip()
    if not f or f.startswith("NOT FIRED"):
        return "fail", "the fault did not fire: %s" % (f or "(no word from it)")
    through = s.get("fault_kind") in ("link-ready", "link-promoted") and s.get("rc") == 0
    if s.get("rc") == 0 and not through:
        return "fail", "xl migrate succeeded although %s" % f
    here, there = ("on_xen02", "on_xen01") if through else ("on_xen01", "on_xen02")
    if not s.get(here) or s.get(there):
        return "fail", "after the fault (xl rc %s) the guest runs on xen01 as '%s', on xen02 " \
            "as '%s' (it must run on at %s alone)" % (
                s.get("rc"), s.get("on_xen01"), s.get("on_xen02"), here[3:])
    left = (s.get("left_xen01"), s.get("left_xen02"))
    if left != (0, 0):
        return "fail", "other domains of the guest's left behind (xen01 %s, xen02 %s)" % left
    why = devices_sound(s, "2" if through else "1") or (garp_seen(s) if through else None)
    return ("fail", why) if why else ("pass", "")


def misplaced(s):
    """None when, after a migration that succeeded, the guest runs on its
    target host (to) and not on the other; else what is wrong."""
    to = s.get("to")
    here, there = ("on_xen02", "on_xen01") if to == "b" else ("on_xen01", "on_xen02")
    if s.get(here) and not s.get(there):
        return None
    return "after the migration to xen0%s the guest runs on xen01 as '%s', on xen02 as " \
        "'%s'" % ("2" if to == "b" else "1", s.get("on_xen01"), s.get("on_xen02"))


def judge_tools(s):
    """xmig-send on one host, xmig-recv on the other: both must succeed, the
    receiver's digest match, the guest run on the other host alone and beat
    there, with its checker clean."""
    name, send, recv = s["name"], s.get("send") or {}, s.get("recv") or {}
    if s.get("rc") != 0 or s.get("recv_rc") != 0:
        return "fail", "xmig-send exited %s, xmig-recv %s: %s (see %s.send, %s.recv)" % (
            s.get("rc"), s.get("recv_rc"),
            send.get("error") or recv.get("error") or "no JSON error", name, name)
    if not recv:
        return "fail", "no JSON from xmig-recv (%s.recv-json)" % name
    if recv.get("verified") is not True:
        return "fail", "the receiver's digest check: verified is %s (verify_requested %s)" % (
            recv.get("verified"), recv.get("verify_requested"))
    to = s.get("to")
    why = misplaced(s)
    if why:
        return "fail", why
    left = (s.get("left_xen01"), s.get("left_xen02"))
    if left != (0, 0):
        return "fail", "other domains of the guest's left behind (xen01 %s, xen02 %s)" % left
    if not s.get("hb_after"):
        return "fail", "no heartbeat of the guest's on xen0%s's console afterwards" % (
            "2" if to == "b" else "1")
    if s.get("guest_errors"):
        return "fail", "the guest's working-set checker reported %s errors" % s["guest_errors"]
    return "pass", ""


def tools_table(scen):
    rows = [s for s in scen if s.get("tools_kind") and not s.get("not_run")]
    if not rows:
        return []
    out = ["", "xmig's own tools between the hosts (xmig-send --verify to xmig-recv, "
           "a guest without devices):", "",
           "| migration | guest | from | tools rc | wall s | engine downtime ms | "
           "guest-seen gap ms | rounds | MiB sent | digest | heartbeats after |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        send, recv = s.get("send") or {}, s.get("recv") or {}
        out.append("| %s | %s | xen0%s | %s/%s | %.1f | %s | %s | %s | %s | %s | %s |" % (
            s["name"], s["tools_kind"], "1" if s.get("from") == "a" else "2",
            s.get("rc"), s.get("recv_rc"), (s.get("wall_ms") or 0) / 1000,
            "-" if send.get("downtime_ms") is None else "%.1f" % send["downtime_ms"],
            s.get("guest_gap_ms"), send.get("rounds", "-"),
            "-" if send.get("bytes") is None else "%.1f" % (send["bytes"] / 1048576.0),
            {True: "match", False: "MISMATCH"}.get(recv.get("verified"), "-"),
            s.get("hb_after")))
    for k in sorted({s["tools_kind"] for s in rows}):
        for d in ("a", "b"):
            ok = [s for s in rows if s["tools_kind"] == k and s.get("from") == d and
                  judge_tools(s)[0] == "pass"]
            if not ok:
                continue

            def m(f):
                v = [x for x in map(f, ok) if x is not None]
                return "%.1f (%.1f-%.1f)" % (statistics.median(v), min(v), max(v)) if v else "-"
            out.append("%s xen0%s -> xen0%s (%d passed): median (min-max) wall %s s, engine "
                       "downtime %s ms, guest-seen gap %s ms" % (
                           k, "1" if d == "a" else "2", "2" if d == "a" else "1", len(ok),
                           m(lambda s: (s.get("wall_ms") or 0) / 1000),
                           m(lambda s: (s.get("send") or {}).get("downtime_ms")),
                           m(lambda s: s.get("guest_gap_ms"))))
    return out


def judge(s):
    name, rc = s["name"], s.get("rc")
    if name == "boot" or name.startswith("boot-"):
        return ("pass", "") if rc == 0 else ("fail", s.get("error") or "rc %s" % rc)
    if s.get("not_run"):
        return "skip", s["not_run"]
    if s.get("fault_kind"):
        return judge_fault(s)
    if s.get("tools_kind"):
        return judge_tools(s)
    if rc != 0:
        if s.get("helper") == "stock":
            return "skip", "the reference (xl on Xen's own helper) failed, rc %s" % rc
        return "fail", "xl migrate failed, rc %s (see %s.send.log, %s.recv.log)" % (
            rc, name, name)
    to = s.get("to")
    why = misplaced(s)
    if why:
        return "fail", why
    why = devices_sound(s, "2" if to == "b" else "1") or garp_seen(s)
    return ("fail", why) if why else ("pass", "")


def fault_table(scen):
    rows = [s for s in scen if s.get("fault_kind") and not s.get("not_run")]
    if not rows:
        return []
    out = ["", "Faults (xl migrate xen01 -> xen02; each must leave the guest on one host: "
           "xen01, xl failed; after link-ready also xen02, xl through):", "",
           "| fault | disk | helper | what was done | xl rc | xl wall s | guest runs on | "
           "ping lost | ping longest gap ms | TCP | disk checker | DRBD |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        p = s.get("ping") or {}
        where = "+".join(h for h, k in (("xen01", "on_xen01"), ("xen02", "on_xen02"))
                         if s.get(k)) or "nowhere"
        drbd = "-" if kind(s) != "drbd" else "%s, %s/%s, split brains %s" % (
            s.get("drbd_cstate", "?"), (s.get("drbd_xen01") or "?").split("/")[0],
            (s.get("drbd_xen02") or "?").split("/")[0], s.get("split_brains", "?"))
        out.append("| %s | %s | %s | %s | %s | %.1f | %s | %s/%s | %s | %s | %s | %s |" % (
            s["fault_kind"], kind(s), s.get("helper", "?"), ((s.get("fault") or "").strip() + (
                " The helper's guard on xen02: " + s["guard"].strip()
                if (s.get("guard") or "").strip() else "")).replace("|", "/"),
            s.get("rc"), (s.get("wall_ms") or 0) / 1000, where, p.get("lost", "?"),
            p.get("sent", "?"), p.get("longest_gap_ms", "?"),
            "alive" if s.get("tcp_alive") else "DEAD",
            "clean" if not s.get("disk_errors") else "ERRORS", drbd))
    return out


def table(scen):
    rows = [s for s in scen if s.get("helper") and not s.get("not_run") and
            not s.get("fault_kind")]
    lines = ["| migration | disk | helper | xl migrate wall s | guest-seen gap ms | ping lost | "
             "ping longest gap ms | TCP | disk checker |", "|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        p = s.get("ping") or {}
        lines.append("| %s | %s | %s | %.1f | %s | %s/%s | %s | %s | %s |" % (
            s["name"], kind(s), s["helper"], (s.get("wall_ms") or 0) / 1000,
            s.get("guest_gap_ms"),
            p.get("lost", "?"), p.get("sent", "?"), p.get("longest_gap_ms", "?"),
            "alive" if s.get("tcp_alive") else "DEAD",
            "clean" if not s.get("disk_errors") else "ERRORS"))
    med = []
    for k, h, ok in groups(rows):
        def m(f):
            v = [f(s) for s in ok if f(s) is not None]
            return round(statistics.median(v), 1) if v else None
        med.append("%s on %s (%d ok): median wall %s s, guest-seen gap %s ms, "
                   "ping longest gap %s ms"
                   % (h, k, len(ok), m(lambda s: (s.get("wall_ms") or 0) / 1000),
                      m(lambda s: s.get("guest_gap_ms")),
                      m(lambda s: (s.get("ping") or {}).get("longest_gap_ms"))))
    brk = []
    shown = [ph for ph, _, _ in XL_PHASES if ph != "live"]
    for k, h, ok in groups(rows):
        ph_ok = [s["xl_phases"] for s in ok if s.get("xl_phases")]
        if not ph_ok:
            continue
        if not brk:
            brk = ["", "Where the pause went (medians, ms; from both ends' stamped xl logs):", "",
                   "| engine | disk | n | " + " | ".join(shown) + " |",
                   "|---|---|---|" + "---|" * len(shown)]
        cells = []
        for ph in shown:
            v = [p[ph] for p in ph_ok if p.get(ph) is not None]
            cells.append("%.0f" % statistics.median(v) if v else "-")
        brk.append("| %s | %s | %d | %s |" % (h, k, len(ph_ok), " | ".join(cells)))
    garps = ["%s %s" % (s["name"], "%d, the first %s ms after the go" % (
        s["garp"]["count"], s["garp"]["first_ms"]) if s["garp"]["count"] else "none")
        for s in rows if s.get("garp")]
    if garps:
        garps = ["", "The guest's gratuitous ARPs seen on xen01's bridge: " + "; ".join(garps)]
    return "\n".join(lines + [""] + med + brk + garps + fault_table(scen) + tools_table(scen))


def main(argv):
    rdir = argv[1]
    tier = running = cut = None
    i = 2
    while i < len(argv):
        if argv[i] in ("--verdict", "--running", "--cut-short") and i + 1 < len(argv):
            v = argv[i + 1]
            if argv[i] == "--verdict":
                tier = v
            elif argv[i] == "--running":
                running = v
            else:
                cut = v
            i += 2
        else:
            print(__doc__.strip(), file=sys.stderr)
            return 2
    scen = load(rdir)
    try:
        with open(os.path.join(rdir, "plan.txt")) as f:
            plan = [l.strip() for l in f if l.strip()]
    except OSError:
        plan = []
    verdicts = []
    for s in scen:
        st, why = judge(s)
        verdicts.append({"name": s["name"], "status": st, "why": why})
    ran = {v["name"] for v in verdicts}
    for p in plan:
        if p not in ran:
            verdicts.append({"name": p, "status": "fail",
                             "why": "cut short while running" if p == running else "never ran"})
    problems = [cut] if cut else []
    for host in ("xen01", "xen02"):
        try:
            with open(os.path.join(rdir, "console-%s.txt" % host), errors="replace") as f:
                for line in f:
                    if "LX DERR" in line or "LX ERR" in line:
                        problems.append("guest on %s: %s" % (host, line.strip()))
        except OSError:
            pass
    with open(os.path.join(rdir, "results.json"), "w") as f:
        json.dump({"scenarios": scen}, f, indent=1)
    t = table(scen)
    plotted = plot(rdir, scen)
    if plotted:
        t += "\n\nping RTT across %s: ping-rtt.dat%s" % (
            ", ".join(plotted), ", ping-rtt.svg" if os.path.exists(
                os.path.join(rdir, "ping-rtt.svg")) else "")
    with open(os.path.join(rdir, "table.md"), "w") as f:
        f.write(t + "\n")
    print(t)
    if not tier:
        return 0
    v = {"tier": tier, "status": "ok", "scenarios": verdicts, "problems": problems[:40]}
    with open(os.path.join(rdir, "verdict.json"), "w") as f:
        json.dump(v, f, indent=1)
    bad = [x for x in verdicts if x["status"] == "fail"]
    for x in verdicts:
        print("%-5s %s%s" % (x["status"].upper(), x["name"], " -- " + x["why"] if x["why"] else ""))
    for p in problems:
        print("PROBLEM %s" % p)
    return 1 if bad or problems or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
