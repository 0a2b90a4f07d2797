#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn one lab run's results directory into results.json.

Reads the per-migration files (NAME.json: the xmig driver's output, or a
small one for `xl migrate`; NAME.meta: what ran and its wall time) and
dmesg.txt (xl dmesg: the guests' port 0xe9 lines, "(dN) [ t] XG ..." from
the test guest, "(dN) [ t] LX ..." from the Linux guest). The guest-observed
downtime of a migration dA -> dB is the gap between dA's last heartbeat and
dB's first one, on Xen's clock (the host's: it does not stop while a guest
is paused), so it is measured the same way for xmig and for xl.

results.json: {"scenarios": [...], "handovers": [...], "guest": {...},
"bench": [one row per alternated migration], "passed": N}

With --verdict TIER, also verdict.json, what CI counts (.ci/count): each
scenario of the run's plan passed, failed or (the reference, xl migrate,
failing) skipped, with the reason; a scenario planned but never run is a
failure; "problems" lists what failed outside any scenario (guest errors,
a run cut short). Exit status 0 when nothing failed.
"""
import json
import os
import re
import statistics
import sys

HB_LINE = re.compile(r"^\(d(\d+)\)\s+\[\s*([0-9.]+)\]\s+(XG|LX) (\S+)(.*)$")


def read_heartbeats(path):
    """(sorted heartbeats [(t, dom, n)], notable lines) from xl dmesg output."""
    hb, other = [], []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = HB_LINE.match(line.strip())
                if not m:
                    continue
                dom, t, who, kind, rest = (int(m.group(1)), float(m.group(2)), m.group(3),
                                           m.group(4), m.group(5))
                if kind == "HB":
                    try:
                        hb.append((t, dom, int(rest.split()[0])))
                    except (ValueError, IndexError):
                        pass
                elif kind in ("CHECK", "EXIT", "ERR", "FAIL", "BOOT", "START"):
                    other.append("d%d %s %s%s" % (dom, who, kind, rest))
                elif kind == "STAT":
                    m2 = re.search(r"errors=(\d+)", rest)
                    if m2 and int(m2.group(1)):
                        other.append("d%d %s STAT%s" % (dom, who, rest))
    except OSError:
        pass
    hb.sort()
    return hb, other


def handovers(hb, scenarios):
    """The guest-observed downtime of each migration src -> dst: the first
    heartbeat of dst minus the last one of src. Several guests may print at
    once (the twins of the benchmark), so heartbeats are grouped by domain;
    domids are never reused within a boot."""
    first, last, gaps = {}, {}, {}
    for t, dom, seq in hb:
        if dom in last:
            gaps[dom] = max(gaps.get(dom, 0.0), t - last[dom][0])
        first.setdefault(dom, (t, seq))
        last[dom] = (t, seq)
    out = []
    for s in scenarios:
        a, b = s.get("src_domid"), s.get("dst_domid")
        # -17 XMIG_ESRCLEFT: migrated, the source copy destroyed later
        if s.get("rc") not in (0, -17) or a not in last or b not in first:
            continue
        out.append({"name": s["name"], "from": a, "to": b, "last_hb": last[a][1],
                    "first_hb": first[b][1],
                    "guest_gap_ms": round((first[b][0] - last[a][0]) * 1000, 1)})
    return out, max(gaps.values(), default=0.0)


def console_handovers(rdir, scenarios):
    """PV guests print on their console instead of port 0xe9 (dom0-scenarios.sh
    keeps what each migration added in NAME.console). The handover there: the
    largest gap the guest measured on its own clock, and heartbeats after it
    (the new domain ran on). Also returns the guest's error lines."""
    out, notable = [], []
    for s in scenarios:
        try:
            with open(os.path.join(rdir, s["name"] + ".console"), errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        gap, at = 0.0, -1
        for i, line in enumerate(lines):
            m = re.search(r"LX GAP ([0-9.]+)", line)
            if m and float(m.group(1)) > gap:
                gap, at = float(m.group(1)), i
            if "LX ERR" in line:
                notable.append("%s: %s" % (s["name"], line.strip()))
        after = sum(1 for line in lines[at + 1:] if "LX HB" in line)
        if s.get("rc") == 0 and at >= 0 and after:
            out.append({"name": s["name"], "from": s.get("src_domid") or 0,
                        "to": s.get("dst_domid") or 0, "last_hb": -1, "first_hb": after,
                        "guest_gap_ms": round(gap, 1), "clock": "guest"})
    return out, notable


def load_scenarios(rdir):
    out = []
    for name in sorted(os.listdir(rdir)):
        if not name.endswith(".json") or name in ("results.json", "verdict.json"):
            continue
        try:
            with open(os.path.join(rdir, name)) as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            d = {"rc": None, "error": "unreadable driver output: %s" % e}
        d["name"] = name[:-5]
        try:
            with open(os.path.join(rdir, d["name"] + ".meta")) as f:
                d["meta"] = json.load(f)
        except (OSError, ValueError):
            pass
        try:
            with open(os.path.join(rdir, d["name"] + ".args")) as f:
                d["args"] = f.read().strip()
        except OSError:
            pass
        out.append(d)
    return out


def bench_rows(scenarios, hand):
    """One row per alternated migration (those with a .meta)."""
    by_pair = {(h["from"], h["to"]): h for h in hand}
    rows = []
    for s in scenarios:
        m = s.get("meta")
        if not m:
            continue
        h = by_pair.get((s.get("src_domid"), s.get("dst_domid")))
        rows.append({
            "name": s["name"], "system": m["system"], "guest": m["guest"],
            "mem": m.get("mem"), "workload": m["workload"], "rep": m["rep"],
            "ok": s.get("rc") == 0,
            "wall_ms": m["wall_ms"],
            "downtime_ms": s.get("downtime_ms"),      # xmig only: libxl does not report it
            "total_ms": s.get("total_ms"),            # xmig's engine total
            "guest_downtime_ms": h["guest_gap_ms"] if h else None,
            "bytes": s.get("bytes"), "rounds": s.get("rounds"),
            "verified": s.get("verified"),
        })
    return rows


def med(vals):
    vals = [v for v in vals if v is not None]
    return (statistics.median(vals), min(vals), max(vals), len(vals)) if vals else None


def table(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["guest"], r["workload"], r["system"]), []).append(r)
    lines = ["%-4s %-8s %-16s %5s %22s %22s %22s %10s" % (
        "gst", "workload", "system", "ok", "guest-seen ms", "engine downtime ms",
        "wall s", "MB")]
    for (g, w, sysname), rs in sorted(groups.items()):
        def cell(key, scale=1.0, digits=0):
            x = med([r[key] for r in rs if r["ok"]])
            if not x:
                return "-"
            return "%.*f (%.*f-%.*f)" % (digits, x[0] * scale, digits, x[1] * scale,
                                         digits, x[2] * scale)
        mb = med([r["bytes"] for r in rs if r["ok"]])
        lines.append("%-4s %-8s %-16s %2d/%-2d %22s %22s %22s %10s" % (
            g, w, sysname, sum(r["ok"] for r in rs), len(rs), cell("guest_downtime_ms"),
            cell("downtime_ms"), cell("wall_ms", 1e-3, 2), "%.1f" % (mb[0] / 1e6) if mb else "-"))
    return lines


def xl_table(scen):
    """Lines of a side-by-side table of the alternated xl runs: xlh-migN
    (xmig's helper) and xlh-stockN (Xen's), successful ones only."""
    runs = {"xmig": [], "xen": []}
    for sc in scen:
        if sc.get("rc") != 0:
            continue
        if re.match(r"xlh-mig\d+$", sc["name"]):
            runs["xmig"].append(sc)
        elif re.match(r"xlh-stock\d+$", sc["name"]):
            runs["xen"].append(sc)
    if not runs["xmig"] and not runs["xen"]:
        return []
    getters = [("runs", lambda s: 1)]
    getters += [(ph, (lambda ph: lambda s: (s.get("xl_phases") or {}).get(ph))(ph))
                for ph, _, _ in XL_PHASES]
    getters += [
        ("wall", lambda s: s.get("wall_ms")),
        ("ping_longest_gap", lambda s: (s.get("ping") or {}).get("longest_gap_ms")),
        ("ping_lost", lambda s: (s.get("ping") or {}).get("lost")),
        ("garp_seen", lambda s: (s.get("garp") or {}).get("count")),
        ("first_arp_after_go", lambda s: (s.get("garp") or {}).get("first_arp_ms")),
        ("MB", lambda s: s["bytes"] / 1e6 if s.get("bytes") else None),
    ]

    def cell(vals, count=False):
        vals = [v for v in vals if v is not None]
        if count:
            return str(len(vals))
        if not vals:
            return "-"
        if len(vals) == 1:
            return "%.1f" % vals[0]
        return "%.1f (%.1f-%.1f)" % (statistics.median(vals), min(vals), max(vals))
    out = ["%-20s %-28s %-28s" % ("", "xmig helper", "Xen's helper")]
    for key, g in getters:
        out.append("%-20s %-28s %-28s" % (key, cell([g(s) for s in runs["xmig"]], key == "runs"),
                                          cell([g(s) for s in runs["xen"]], key == "runs")))
    return out


def xen_version(path):
    """From the first line of summary.txt: "... xen_version : 4.17.x"."""
    try:
        with open(path, errors="replace") as f:
            m = re.search(r"xen_version\s*:\s*(\S+)", f.readline())
        return m.group(1) if m else None
    except OSError:
        return None


def heartbeats_after(path, marker, dom):
    """Heartbeats of domain `dom` in xl dmesg output after the line `marker`
    (the file is appended in order, so position is time)."""
    n, on = 0, False
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(marker):
                    on = True
                    continue
                m = HB_LINE.match(line.strip())
                if on and m and int(m.group(1)) == dom and m.group(4) == "HB":
                    n += 1
    except OSError:
        pass
    return n


def balloon_mem(rdir):
    """linux-balloon.mem: MiB before the migration, after it, the target, the low point."""
    try:
        with open(os.path.join(rdir, "linux-balloon.mem")) as f:
            return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", f.read())}
    except (OSError, ValueError):
        return None


def source_state(rdir, name):
    """The source domain's xl state flags after a migration ("-b----"), or None."""
    try:
        with open(os.path.join(rdir, name + ".after")) as f:
            m = re.search(r"source_state=(\S+)", f.read())
        return m.group(1) if m else None
    except OSError:
        return None


# xl migrate on xmig's helper with a fault (dom0-scenarios.sh): what NAME.fault
# must say for the fault to have fired where it was meant to
XLH_FAULTS = {
    "xlh-kill-send": r"killed the save helper .* after \d+ bytes",
    "xlh-kill-susp": r"killed it with the source in state \S*s",
    "xlh-kill-recv": r"killed the restore helper .* after \d+ bytes",
    "xlh-corrupt": r"inverted",
}


# Scenarios that must fail after the pause with the source running on:
# name -> (the sender's rc, a phrase its error must contain).
REFUSED = {
    "fail": (-12, "the receiver failed"),
    "suspend-noack": (-10, "did not take the suspend request"),
    "fault-map-eio": (-8, "stopping rather than send it as a hole"),
    "fault-clean-short": (-8, "the dirty state of the others is unknown"),
    "fault-commit-lost": (-12, "the receiver never started the guest"),
}

# The connection cut after COMMIT: the outcome must come from a query.
ASKED = ("fault-commit-lost", "fault-done-lost")

# The connection cut at each phase before COMMIT left: the migration fails,
# the source runs on, and no destination domain is left behind.
CUT = ("fault-cut-setup", "fault-cut-round0", "fault-cut-round-end", "fault-cut-state",
       "fault-cut-ready")


# xmig's tools as processes, one killed -9 (dom0-scenarios.sh kill_scn):
# name -> (who was killed, the survivor's exit status, the domains the dead
# one left behind before any cleanup, what the cleanup must have said)
KILLED = {
    "kill-recv-accept": ("recv", 1, 1, r"never started: destroyed"),
    "kill-send-accept": ("send", 1, 0, r"no leftovers of dead xmig processes"),
    "kill-recv-live": ("recv", 1, 1, r"never started: destroyed"),
    "kill-recv-ready": ("recv", 1, 1, r"never started: destroyed"),
    "kill-send-live": ("send", 1, 0, r"log-dirty mode: log-dirty off"),
    "kill-send-stopped": ("send", 1, 0, r"left stopped for stop-and-copy: left alone.*"
                          r"source after cleanup: \S*p.*left stopped: resumed"),
    # PV: the source shut down for suspend (state s), not paused
    "kill-send-stopped-pv": ("send", 1, 0, r"left stopped for stop-and-copy: left alone.*"
                             r"source after cleanup: \S*[ps].*left stopped: resumed"),
    # after the commit: the guest runs on the destination (one more domain);
    # the stopped source is left alone (never resumed), then destroyed by hand
    "kill-recv-done": ("recv", 4, 1, r"left stopped for stop-and-copy: left alone.*"
                       r"source after cleanup: \S*p.*destroyed the stopped source d\d+: rc 0"),
    "kill-send-done": ("send", 0, 1, r"left stopped for stop-and-copy: left alone.*"
                       r"source after cleanup: \S*p.*destroyed the stopped source d\d+: rc 0"),
}


def judge_paused(rdir, s):
    """(status, why) of paused_scn: xmig-recv --paused, then xl unpause."""
    dom, st = s.get("dst_domid"), s.get("dst_state") or ""
    if s.get("sender_rc") != 0 or s.get("receiver_rc") != 0:
        return "fail", "the migration failed: sender %s, receiver %s" % (
            s.get("sender_rc"), s.get("receiver_rc"))
    if not dom:
        return "fail", "the receiver did not name the domain it left paused"
    if "p" not in st:
        return "fail", "the new d%s was in state '%s' after the commit, not paused" % (dom, st)
    if s.get("src_left"):
        return "fail", "the source d%s is still there after the commit" % s.get("src_domid")
    path = os.path.join(rdir, "dmesg.txt")
    name = s["name"]
    early = heartbeats_after(path, "=== %s t=" % name, dom) - \
        heartbeats_after(path, "=== %s unpause" % name, dom)
    if early:
        return "fail", "d%s beat %d times before xl unpause: it was not paused" % (dom, early)
    if s.get("unpause_rc") != 0:
        return "fail", "xl unpause d%s failed (rc %s)" % (dom, s.get("unpause_rc"))
    if not heartbeats_after(path, "=== %s unpause" % name, dom):
        return "fail", "no heartbeat from d%s after xl unpause" % dom
    return "pass", ""


def judge_killed(rdir, s):
    """(status, why) of a kill_scn scenario."""
    name = s["name"]
    who, survivor_rc, left, said = KILLED[name]
    if not s.get("fired"):
        return "fail", "the kill never fired: nothing was tested"
    got_survivor = s.get("sender_rc") if who == "recv" else s.get("receiver_rc")
    got_victim = s.get("receiver_rc") if who == "recv" else s.get("sender_rc")
    if got_victim != 137:
        return "fail", "xmig-%s was to be killed (-9): it ended with %s" % (who, got_victim)
    if got_survivor != survivor_rc:
        return "fail", "the surviving tool exited %s, not %s (a clean failure): %s" % (
            got_survivor, survivor_rc, s.get("sender_error", ""))
    before, killed = s.get("domains_before"), s.get("domains_killed")
    if before is None or killed is None or killed - before != left:
        return "fail", "%s domains before, %s once xmig-%s was killed: expected %d left " \
            "behind" % (before, killed, who, left)
    if s.get("cleanup_rc") != 0 or (s.get("resume_rc") not in (None, 0)):
        return "fail", "the cleanup failed (rc %s, resume rc %s): %s" % (
            s.get("cleanup_rc"), s.get("resume_rc"), s.get("cleanup", ""))
    if not re.search(said, s.get("cleanup") or ""):
        return "fail", "the cleanup did not say /%s/: %s" % (said, s.get("cleanup", ""))
    if s.get("dying_after"):
        return "fail", "%s destroyed domain(s) stayed dying after the cleanup: something " \
            "still maps their memory" % s.get("dying_after")
    if s.get("domains_after") != before:
        return "fail", "the host had %s domains before and %s after the cleanup" % (
            before, s.get("domains_after"))
    if name.endswith("-done"):
        st, dom = s.get("dst_state") or "", s.get("dst_domid")
        if not dom or any(c in st for c in "psc"):
            return "fail", "the guest does not run on the destination (d%s, state %s)" % (
                dom, st or "none")
        if not heartbeats_after(os.path.join(rdir, "dmesg.txt"), "=== %s done" % name, dom):
            return "fail", "no heartbeat from the destination d%s afterwards" % dom
        return "pass", ""
    return source_ran_on(rdir, name, s)


PING_REPLY = re.compile(r"^\[([0-9.]+)\] \d+ bytes from .*icmp_seq=(\d+)")
PING_STATS = re.compile(r"(\d+) packets transmitted, (\d+) received")


def ping_stats(rdir, name):
    """NAME.ping (ping -D -i 0.01 across a migration): lost replies and the
    longest time between two replies, in ms; None without a ping log."""
    try:
        with open(os.path.join(rdir, name + ".ping"), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    ts = [float(m.group(1)) for m in map(PING_REPLY.match, lines) if m]
    st = next((m for m in map(PING_STATS.search, lines) if m), None)
    if not st:
        return None
    gap = max((b - a for a, b in zip(ts, ts[1:])), default=0.0)
    return {"sent": int(st.group(1)), "lost": int(st.group(1)) - int(st.group(2)),
            "longest_gap_ms": round(gap * 1000, 1)}


# xl -vvv's lines (lab-tools stamp: "[WALL] text") that mark the steps of
# `xl migrate`, in order; both ends write to the same log
XL_MARKS = [
    ("start", r"xlh start"),
    ("suspend_request", r"suspend request via"),
    ("suspended", r"guest has suspended"),
    ("restored", r"Restore successful|restored by xmig"),
    ("transferred", r"migration target: Transfer complete"),
    ("permitted", r"migration target: Got permission"),
    ("started", r"migration target: Domain started"),
    ("done", r"Migration successful"),
]
# the phases between them (ms), named for what happens in each: the
# destination's devices are attached (hotplug scripts) to the paused domain
# between the restore and "Transfer complete"
XL_PHASES = [
    ("live", "start", "suspend_request"),
    ("suspend", "suspend_request", "suspended"),
    ("final_copy", "suspended", "restored"),
    ("devices", "restored", "transferred"),
    ("go_handshake", "transferred", "permitted"),
    ("unpause", "permitted", "started"),
    ("source_cleanup", "started", "done"),
]
STAMP = re.compile(r"^\[([0-9.]+)\] (.*)$")
# xmig's helper on the sender: its own share of the pause
ENGINE_SAVED = re.compile(r"saved: (\d+) rounds, (\d+) bytes; suspend ([0-9.]+) ms, "
                          r"final round ([0-9.]+) ms \((\d+) pages\), state ([0-9.]+) ms")


def xl_phases(rdir, name):
    """Where the time of one `xl migrate` went, from its stamped -vvv log:
    {"marks": {mark: wall}, phase: ms, ..., "engine": {...}}; None without
    a stamped log."""
    try:
        with open(os.path.join(rdir, name + ".log"), errors="replace") as f:
            lines = [m.groups() for m in map(STAMP.match, f.read().splitlines()) if m]
    except OSError:
        return None
    return xl_phases_of(lines)


def xl_phases_of(lines):
    """xl_phases from a stamped log already read: [(wall, text)] in order."""
    if not lines:
        return None
    marks, at = {}, 0
    for key, text in XL_MARKS:
        i = next((i for i in range(at, len(lines)) if re.search(text, lines[i][1])), None)
        if i is not None:
            marks[key] = float(lines[i][0])
            at = i
    out = {"marks": marks}
    for ph, a, b in XL_PHASES:
        if a in marks and b in marks:
            out[ph] = round((marks[b] - marks[a]) * 1000, 1)
    eng = next((m for m in (ENGINE_SAVED.search(l) for w, l in lines) if m), None)
    if eng:
        out["engine"] = {"rounds": int(eng.group(1)), "bytes": int(eng.group(2)),
                         "suspend_ms": float(eng.group(3)),
                         "final_round_ms": float(eng.group(4)),
                         "final_pages": int(eng.group(5)), "state_ms": float(eng.group(6))}
    return out


def garp(rdir, name, after=None):
    """The guest's ARP packets seen on the bridge (NAME.arp) after `after`
    (a wall time): how many were gratuitous (sender IP = target IP), and the
    delay of the first gratuitous one and of the first ARP of any kind, in
    ms. The one-host lab reports it (whether the guest's announcement
    reaches the bridge depends on the guest and on dom0: docs/xl-helper.md);
    the two-host lab (twohost.py) requires one after each go."""
    try:
        with open(os.path.join(rdir, name + ".arp"), errors="replace") as f:
            pk = [(float(m.group(1)), m.group(2).endswith(" garp"))
                  for m in map(STAMP.match, f.read().splitlines()) if m]
    except OSError:
        return None
    if after is not None:
        pk = [p for p in pk if p[0] >= after]
    g = [t for t, is_g in pk if is_g]

    def delay(ts):
        return round((ts[0] - after) * 1000, 1) if ts and after is not None else None
    return {"count": len(g), "arp_count": len(pk), "first_ms": delay(g),
            "first_arp_ms": delay([t for t, _ in pk])}


def devices_ok(s):
    """A guest with devices after an xl scenario: its NIC answers, its TCP
    stream from dom0 lives, its disk checker saw no error. (status, why)."""
    if "tcp_alive" not in s:
        return "pass", ""
    if not s.get("ping_after"):
        return "fail", "the guest does not answer ping after the migration"
    if not s.get("tcp_alive"):
        return "fail", "the TCP stream from dom0 into the guest died"
    if s.get("disk_errors"):
        return "fail", "the guest's disk checker saw %s errors (%s)" % (
            s["disk_errors"], s.get("disk", ""))
    return "pass", ""


def source_beats_after(rdir, name, s):
    """After a failed migration: does the source guest beat again? From what
    its console got after the scenario's end (PV: NAME.console-after, some
    seconds of it; a beat a second) or from Xen's console (dmesg.txt, after
    the scenario's end marker). Not "after its last gap": a guest under TCG
    reports a short gap now and then, one may be the last line kept."""
    after = os.path.join(rdir, name + ".console-after")
    if os.path.exists(after):
        with open(after, errors="replace") as f:
            return any("LX HB" in l for l in f.read().splitlines())
    return heartbeats_after(os.path.join(rdir, "dmesg.txt"), "=== %s done" % name,
                            s.get("src_domid"))


def source_ran_on(rdir, name, s):
    """(status, why) of a migration that had to fail: its source must be
    running, and beating, afterwards."""
    st = source_state(rdir, name)
    if not st or any(c in st for c in "psc"):
        return "fail", "the source domain is not running after the failure (state %s)" % st
    if not source_beats_after(rdir, name, s):
        return "fail", "no heartbeat from the source after the failed migration"
    return "pass", ""


def judge(rdir, s, handed):
    """(status, why) of one scenario."""
    name, rc = s["name"], s.get("rc")
    if (s.get("meta") or {}).get("system") == "xl":
        if rc == 0:
            return "pass", ""
        return "skip", "the reference (xl migrate) failed, rc %s: not xmig's" % rc
    if name.startswith("xlh-stock"):
        # the reference: Xen's own helper under the same xl
        if rc == 0:
            return "pass", ""
        return "skip", "the reference (xl on Xen's own helper) failed, rc %s: not xmig's" % rc
    if name in XLH_FAULTS:
        fault = s.get("fault") or ""
        if not fault or fault.startswith("NOT FIRED"):
            return "fail", "the fault never fired: nothing was tested (%s)" % (
                fault or "no record of it")
        want = XLH_FAULTS[name]
        if not re.search(want, fault):
            return "fail", "the fault fired elsewhere than meant (want /%s/): %s" % (
                want, fault)
        if rc == 0:
            return "fail", "xl reported success despite the fault (%s)" % fault
        if name == "xlh-corrupt" and "xmig-xl-helper" not in (s.get("error") or ""):
            return "fail", "the receiving helper named no error for the corrupted byte"
        if s.get("leftover_domains"):
            return "fail", "a second copy of the guest was left behind (%s --incoming " \
                "domains)" % s["leftover_domains"]
        st, why = source_ran_on(rdir, name, s)
        if st != "pass":
            return st, why
        return devices_ok(s)
    if name == "xlh-refuse":
        # Xen's own helper sent; xmig's could not read it and must say why,
        # and xl must have resumed the source
        if rc == 0 or "the stream is libxenguest's" not in (s.get("error") or ""):
            return "fail", "expected xl to fail with xmig-xl-helper naming libxenguest's " \
                "stream, got rc %s: %s" % (rc, s.get("error") or "(no helper line)")
        return source_ran_on(rdir, name, s)
    if name in KILLED:
        return judge_killed(rdir, s)
    if s.get("paused"):
        return judge_paused(rdir, s)
    if name.startswith("fault-") and not s.get("fault_hits"):
        return "fail", "the injected fault (%s) never fired: nothing was tested" % (
            s.get("fault") or "?")
    if name in CUT + ASKED and s.get("dying_after"):
        return "fail", "%s destroyed domain(s) stayed dying: something still maps " \
            "their memory" % s.get("dying_after")
    if name in CUT + ASKED and s.get("domains_before") != s.get("domains_after"):
        return "fail", "the host had %s domains before and %s after: a copy of the " \
            "guest was left behind" % (s.get("domains_before"), s.get("domains_after"))
    if name in CUT:
        if rc is None or rc >= 0 or rc == -14:
            return "fail", "expected a definite failure, got rc %s: %s" % (
                rc, s.get("error", ""))
        return source_ran_on(rdir, name, s)
    if name in ASKED and not (s.get("ambiguous") == 1 and s.get("unsettled") == 1 and
                              s.get("answered") == 1 and s.get("resolved") == 1):
        return "fail", "the lost outcome was not settled by a query (ambiguous %s, " \
            "receiver kept it %s, answered %s, resolved %s): %s" % (
                s.get("ambiguous"), s.get("unsettled"), s.get("answered"),
                s.get("resolved"), s.get("error", ""))
    if name == "fault-done-lost":
        if s.get("outcome") != 1:
            return "fail", "the receiver kept outcome %s, not 1 (running)" % s.get("outcome")
        if source_state(rdir, name):
            return "fail", "the source domain still exists although the guest runs on " \
                "the destination (state %s)" % source_state(rdir, name)
    if name in REFUSED:
        # failed after the pause, and the source runs on
        want, text = REFUSED[name]
        if rc != want or text not in (s.get("error") or ""):
            return "fail", "expected rc %d with \"%s\", got rc %s: %s" % (
                want, text, rc, s.get("error", ""))
        return source_ran_on(rdir, name, s)
    if name == "fault-destroy-src":
        # the guest moved; the source copy survived its first destroy only
        if rc != -17:
            return "fail", "expected XMIG_ESRCLEFT (rc -17), got rc %s: %s" % (
                rc, s.get("error", ""))
        if s.get("src_retry_rc") != 0:
            return "fail", "the second destroy of the source failed too (rc %s)" % (
                s.get("src_retry_rc"))
        if source_state(rdir, name):
            return "fail", "the source domain still exists after the second destroy"
        rc = 0
    if rc != 0:
        return "fail", "rc %s: %s" % (rc, s.get("error") or s.get("recv_error") or "")
    if name == "linux-balloon-down":
        bp = s.get("balloon_pages") or [0, 0]
        m = re.search(r"gave back (\d+) frames", s.get("notes_dst") or "")
        if s.get("balloon_asked") != 1 or not bp[1] or bp[1] >= bp[0]:
            return "fail", "the guest gave nothing back after round 0 (%s pages, asked %s)" % (
                bp, s.get("balloon_asked"))
        if not m or int(m.group(1)) == 0:
            return "fail", "the destination gave back no frame (notes: %s): the frames the " \
                "guest released after round 0 were not announced absent" % (
                    s.get("notes_dst") or "none")
    if name == "linux-dirty-heap" and not s.get("dirty_heap_frames"):
        return "fail", "the scratch domain gave back no frames: nothing tested"
    if name == "linux-dirty-heap" and not (s.get("dirty_heap_probe") or 0) > 0:
        return "fail", "frames given back came out of Xen scrubbed (probe %s of 64): " \
            "nothing tested" % s.get("dirty_heap_probe")
    if name == "linux-balloon":
        mem = balloon_mem(rdir)
        if not mem or mem.get("after", 0) - mem.get("before", 0) < (
                mem.get("target", 0) - mem.get("low", 0)) // 2:
            return "fail", "the guest did not grow across the migration (%s): nothing tested" % (
                mem or "no linux-balloon.mem")
    if s.get("dst_domid") and name not in handed:
        return "fail", "no heartbeat from the new domain d%s" % s["dst_domid"]
    if name.startswith("xlh-"):
        st, why = devices_ok(s)
        if st != "pass":
            return st, why
    if name == "xlh-save" and s.get("verify_requested") and not s.get("verified"):
        return "fail", "xl restore did not verify memory (XMIG_XL_VERIFY=1: no " \
            "\"memory verified\" line from the restoring helper)"
    if "--verify" in s.get("args", "") and not s.get("verified"):
        return "fail", "memory not verified"
    return "pass", ""


def verdict(rdir, out, tier, running=None, cut_short=None):
    handed = {h["name"] for h in out["handovers"]}
    try:
        with open(os.path.join(rdir, "plan.txt")) as f:
            plan = [l.strip() for l in f if l.strip()]
    except OSError:
        plan = []
    scen = []
    for s in out["scenarios"]:
        status, why = judge(rdir, s, handed)
        scen.append({"name": s["name"], "status": status, "why": why})
    ran = {s["name"] for s in scen}
    for p in plan:
        if p not in ran:
            scen.append({"name": p, "status": "fail",
                         "why": "cut short while running" if p == running else "never ran"})
    problems = ["guest: " + l for l in out["guest"]["notable"]
                if " ERR" in l or " FAIL" in l or ("CHECK" in l and "errors=0" not in l)]
    if cut_short:
        problems.append(cut_short)
    return {"tier": tier, "status": "ok", "xen_version": out.get("xen_version"),
            "scenarios": scen, "problems": problems}


def main(rdir, tier=None, running=None, cut_short=None):
    hb, other = read_heartbeats(os.path.join(rdir, "dmesg.txt"))
    scen = load_scenarios(rdir)
    hand, gaps_same = handovers(hb, scen)
    pv_hand, pv_notable = console_handovers(rdir, scen)
    hand += pv_hand
    other += pv_notable
    rows = bench_rows(scen, hand)
    for sc in scen:
        p = ping_stats(rdir, sc["name"])
        if p:
            sc["ping"] = p
        if sc["name"].startswith("xlh-"):
            ph = xl_phases(rdir, sc["name"])
            if ph:
                sc["xl_phases"] = ph
            if sc.get("rc") == 0:
                m = (ph or {}).get("marks", {})
                g = garp(rdir, sc["name"], m.get("permitted", m.get("start")))
                if g is not None:
                    sc["garp"] = g
    out = {"scenarios": scen, "handovers": hand, "bench": rows,
           "guest": {"heartbeats": len(hb),
                     "max_gap_within_a_domain_ms": round(gaps_same * 1000, 1),
                     "notable": other[-60:]},
           "passed": sum(1 for s in scen if s.get("rc") == 0),
           "xen_version": xen_version(os.path.join(rdir, "summary.txt"))}
    with open(os.path.join(rdir, "results.json"), "w") as f:
        json.dump(out, f, indent=1)
    for h in hand:
        if h.get("clock") == "guest":
            print("%(name)s d%(from)d -> d%(to)d: guest saw %(guest_gap_ms)s ms "
                  "(its own clock; %(first_hb)d heartbeats after)" % h)
        else:
            print("%(name)s d%(from)d -> d%(to)d: guest saw %(guest_gap_ms)s ms "
                  "(HB %(last_hb)d -> %(first_hb)d)" % h)
    for sc in scen:
        if sc.get("ping") or "tcp_alive" in sc:
            p = sc.get("ping") or {}
            print("%s: ping every 10 ms: %s of %s lost, longest gap %s ms; TCP stream %s; "
                  "disk %s, %s errors; %s bytes in %.1f s" % (
                      sc["name"], p.get("lost", "?"), p.get("sent", "?"),
                      p.get("longest_gap_ms", "?"),
                      "alive" if sc.get("tcp_alive") else "DEAD", sc.get("disk") or "?",
                      sc.get("disk_errors", "?"), sc.get("bytes"),
                      (sc.get("wall_ms") or 0) / 1000))
    xt = xl_table(scen)
    if xt:
        print("xl migrate, xmig's helper vs Xen's (medians, (min-max), ms unless said):")
        print(*xt, sep="\n  ")
    if rows:
        print("xmig vs xl migrate (medians of the alternated runs, (min-max)):")
        print(*table(rows), sep="\n  ")
    print("guest lines:", *out["guest"]["notable"][-8:], sep="\n  ")
    if not tier:
        return 0
    v = verdict(rdir, out, tier, running, cut_short)
    with open(os.path.join(rdir, "verdict.json"), "w") as f:
        json.dump(v, f, indent=1)
    bad = [s for s in v["scenarios"] if s["status"] == "fail"]
    for s in v["scenarios"]:
        print("xen-lab: %-5s %s%s" % (s["status"].upper(), s["name"],
                                      " -- " + s["why"] if s["why"] else ""))
    for p in v["problems"]:
        print("xen-lab: FAIL  " + p)
    return 1 if bad or v["problems"] or not v["scenarios"] else 0


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("rdir", nargs="?", default=".")
    ap.add_argument("--verdict", metavar="TIER", help="also write verdict.json for this tier")
    ap.add_argument("--running", help="the step that was running when the run was cut short")
    ap.add_argument("--cut-short", help="why the run did not finish")
    a = ap.parse_args()
    sys.exit(main(a.rdir, a.verdict, a.running, a.cut_short))
