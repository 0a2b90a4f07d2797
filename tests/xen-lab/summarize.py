#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn one lab run's results directory into results.json.

Reads summary.txt (one line per scenario, with the driver's JSON), the
driver's *.json files, and dmesg.txt (xl dmesg: the test guest's port 0xe9
lines, "(dN) [ t] XG ..."). The guest-observed downtime of a migration dA ->
dB is the gap between dA's last heartbeat and dB's first one, on Xen's clock
(the host's: it does not stop while a guest is paused).
"""
import json, os, re, sys

def main(rdir):
    out = {"scenarios": [], "handovers": [], "guest": {}}
    for name in sorted(os.listdir(rdir)):
        if name.endswith(".json") and name != "results.json":
            try:
                with open(os.path.join(rdir, name)) as f:
                    d = json.load(f)
            except (OSError, ValueError) as e:
                d = {"rc": None, "error": "unreadable driver output: %s" % e}
            d["name"] = name[:-5]
            out["scenarios"].append(d)
    hb = []
    other = []
    pat = re.compile(r"^\(d(\d+)\)\s+\[\s*([0-9.]+)\]\s+XG (\S+)(.*)$")
    try:
        with open(os.path.join(rdir, "dmesg.txt"), errors="replace") as f:
            for line in f:
                m = pat.match(line.strip())
                if not m:
                    continue
                dom, t, kind, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
                if kind == "HB":
                    hb.append((t, dom, int(rest.split()[0])))
                elif kind in ("CHECK", "EXIT", "ERR", "FAIL", "BOOT"):
                    other.append("d%d %s%s" % (dom, kind, rest))
                elif kind == "STAT":
                    m2 = re.search(r"errors=(\d+)", rest)
                    if m2 and int(m2.group(1)):
                        other.append("d%d STAT%s" % (dom, rest))
    except OSError:
        pass
    hb.sort()
    gaps_same = 0.0
    for (t0, d0, s0), (t1, d1, s1) in zip(hb, hb[1:]):
        if d0 != d1:
            out["handovers"].append({"from": d0, "to": d1, "last_hb": s0, "first_hb": s1,
                                     "guest_gap_ms": round((t1 - t0) * 1000, 1)})
        else:
            gaps_same = max(gaps_same, t1 - t0)
    out["guest"] = {"heartbeats": len(hb), "max_gap_within_a_domain_ms": round(gaps_same * 1000, 1),
                    "notable": other[-40:]}
    ok = [s for s in out["scenarios"] if s.get("rc") == 0]
    out["passed"] = len(ok)
    with open(os.path.join(rdir, "results.json"), "w") as f:
        json.dump(out, f, indent=1)
    for h in out["handovers"]:
        print("handover d%(from)d -> d%(to)d: guest saw %(guest_gap_ms)s ms (HB %(last_hb)d -> %(first_hb)d)" % h)
    print("guest lines:", *out["guest"]["notable"][-6:], sep="\n  ")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
