# SPDX-License-Identifier: MIT
"""The scenario matrix: guest sizes x workloads x policies, per backend."""

# Each workload in three forms:
#   sim   the sim backend's --dirty model
#   full  the test guest's command line at full size (QEMU TCG; also what an
#         ordinary KVM host would run)
#   kvm   the command line scaled for this machine's KVM, which runs the
#         guest through KVM's instruction emulator: the guest initialises
#         ~900 pages/s and, with a heartbeat every 1 ms, writes only ~520
#         pages/s (2 MB/s) flat out, so working sets are divided by 16 and
#         rates by 128 (to what it can sustain).
# "ALL" = the whole guest (the guest clamps ws to its free RAM, saying so).
WORKLOADS = [
    {"name": "idle", "what": "no writes (heartbeats and the read-only checker only)",
     "sim": "none", "full": "ws=1M idle=1", "kvm": "ws=1M idle=1"},
    {"name": "hot16", "what": "16 MiB hot set, written flat out",
     "sim": "hot:16M:max", "full": "ws=16M pattern=random rate=max",
     "kvm": "ws=1M pattern=random rate=max"},
    {"name": "hot64", "what": "64 MiB hot set, written flat out",
     "sim": "hot:64M:max", "full": "ws=64M pattern=random rate=max",
     "kvm": "ws=4M pattern=random rate=max"},
    {"name": "hot256", "what": "256 MiB hot set, written flat out",
     "sim": "hot:256M:max", "full": "ws=256M pattern=random rate=max",
     "kvm": "ws=16M pattern=random rate=max"},
    {"name": "w50", "what": "256 MiB written at 50 MiB/s",
     "sim": "hot:256M:50M/s", "full": "ws=256M pattern=random rate=50M/s",
     "kvm": "ws=16M pattern=random rate=400K/s"},
    {"name": "w200", "what": "256 MiB written at 200 MiB/s",
     "sim": "hot:256M:200M/s", "full": "ws=256M pattern=random rate=200M/s",
     "kvm": "ws=16M pattern=random rate=1600K/s"},
    {"name": "random", "what": "uniform random writes over all memory at 100 MiB/s",
     "sim": "uniform:100M/s", "full": "ws=ALL pattern=random rate=100M/s",
     "kvm": "ws=16M pattern=random rate=800K/s"},
]

# When QEMU runs the kvm-scaled workloads (the matched pairs), "rate=max"
# becomes this rate, about what this machine's KVM guest writes flat out, so
# both systems see the same dirty rate (TCG would write ~100x faster).
QEMU_MATCH_MAX_RATE = "2M/s"

HB_MS = 1  # heartbeat period: the guest-observed downtime is exact to about this

SIZES = {"sim": ["256M", "1G", "4G"], "kvm": ["256M", "1G"], "qemu": ["256M", "1G"]}
# A 4 GiB sim migration takes 20-30 s here (most of it creating and checking
# memory), so at 4 GiB only these run.
SIM_4G_WORKLOADS = ["idle", "hot64", "w200"]
XMIG_POLICIES = ["downtime", "xen-classic"]
QEMU_CONFIGS = ["qemu-dl50", "qemu-default"]
# Matched pairs for the ratios: (xmig policy, QEMU configuration).
PAIRS = [("downtime", "qemu-dl50"), ("xen-classic", "qemu-default")]

SMOKE = {
    "sim": {"sizes": ["256M"], "workloads": ["hot16"]},
    "kvm": {"sizes": ["64M"], "workloads": ["hot16"]},
    "qemu": {"sizes": ["64M"], "workloads": ["hot16"], "configs": ["qemu-dl50"],
             "scales": ["kvm"]},
}


def guest_args(workload, scale, mem_bytes, for_qemu=False):
    text = workload[scale]
    words = []
    for w in text.split():
        if w == "ws=ALL":
            w = "ws=%dM" % (mem_bytes >> 20)
        if for_qemu and scale == "kvm" and w == "rate=max":
            w = "rate=" + QEMU_MATCH_MAX_RATE
        words.append(w)
    words.append("hb=%d" % HB_MS)
    return " ".join(words)


def scenarios(backends, reps, smoke=False, only_workloads=None):
    """The runs in order, one list per repetition. Comparisons are adjacent:
    for each size and workload, kvm and QEMU alternate (the order flips on
    every other repetition); the sim runs come in their own block."""
    wl = {w["name"]: w for w in WORKLOADS}
    names = [w["name"] for w in WORKLOADS if not only_workloads or w["name"] in only_workloads]
    out = []
    for rep in range(1, reps + 1):
        runs = []
        flip = rep % 2 == 0
        vm_sizes = sorted(set((SMOKE["kvm"]["sizes"] if smoke else SIZES["kvm"]) +
                              (SMOKE["qemu"]["sizes"] if smoke else SIZES["qemu"])),
                          key=_size_key)
        for mem in vm_sizes:
            for name in (SMOKE["kvm"]["workloads"] if smoke else names):
                w = wl[name]
                block = []
                for pol, cfg in PAIRS:
                    pair = []
                    if "kvm" in backends and (smoke or mem in SIZES["kvm"]):
                        pair.append(_run("xmig", "kvm", mem, w, "kvm", pol, rep))
                    if "qemu" in backends and (smoke or mem in SIZES["qemu"]) and \
                            (not smoke or cfg in SMOKE["qemu"]["configs"]):
                        pair.append(_run("qemu", "qemu", mem, w, "kvm", cfg, rep))
                    block += reversed(pair) if flip else pair
                if "qemu" in backends and not smoke and mem in SIZES["qemu"] and \
                        w["full"] != w["kvm"]:
                    for cfg in QEMU_CONFIGS:
                        block.append(_run("qemu", "qemu", mem, w, "full", cfg, rep))
                runs += block
        if "sim" in backends:
            for mem in (SMOKE["sim"]["sizes"] if smoke else SIZES["sim"]):
                for name in (SMOKE["sim"]["workloads"] if smoke else names):
                    if not smoke and mem == "4G" and name not in SIM_4G_WORKLOADS:
                        continue
                    pols = XMIG_POLICIES[::-1] if flip else XMIG_POLICIES
                    for pol in pols:
                        runs.append(_run("xmig", "sim", mem, wl[name], "sim", pol, rep))
        out.append(runs)
    return out


def _size_key(s):
    return int(s[:-1]) * {"M": 1, "G": 1024}[s[-1]]


def _run(system, backend, mem, w, scale, policy, rep):
    rid = "%s-%s-%s-%s-%s-r%d" % (backend, mem, w["name"], scale, policy, rep)
    return {"id": rid, "system": system, "backend": backend, "mem": mem,
            "workload": w["name"], "scale": scale, "policy": policy, "rep": rep}


def group_key(r):
    return (r["backend"], r["mem"], r["workload"], r["scale"], r["policy"])
