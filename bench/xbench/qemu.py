# SPDX-License-Identifier: MIT
"""QEMU's own live migration of the xmig test guest: the reference.

Two QEMUs (TCG, -M pc) boot the same test-guest ELF; the destination waits
with -incoming tcp:127.0.0.1:PORT; the source is driven over QMP (a unix
socket). Each QEMU's isa-debugcon (port 0xe9) goes to a unix socket this
process listens on, and every console line is timestamped on arrival
(time.time_ns(), CLOCK_REALTIME, the clock xmig's tools use), so the
guest-observed downtime is measured on the host exactly as for xmig: from the
source's last heartbeat to the destination's first one.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

from .common import free_tcp_port, kill_proc, tail

HB_RE = re.compile(rb"^XG HB (\d+)$")
STAT_RE = re.compile(r"^XG STAT writes=(\d+)")


class Console:
    """Reads one QEMU's debugcon from a unix socket; timestamps each line."""

    def __init__(self, path, name):
        self.name = name
        self.path = path
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.done = threading.Event()
        self.lines = []          # (ns, text) of every non-heartbeat line
        self.hb_count = 0
        self.first_hb = None     # (seq, ns)
        self.last_hb = None      # (seq, ns)
        self.max_gap_ns = 0
        self.hb_log = []         # (seq, ns), kept only while record_hb is set
        self.record_hb = False
        self.first_raw = None    # (bytes, ns): the first line this console saw
        self.tail_partial = None  # (bytes, ns): an unfinished line at EOF
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.srv.settimeout(120)
            conn, _ = self.srv.accept()
        except OSError:
            self.done.set()
            return
        buf = b""
        last_partial_ns = None
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                now = time.time_ns()
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if self.first_raw is None:
                        self.first_raw = (line, now)
                    self._line(line.rstrip(b"\r"), now)
                if buf:
                    last_partial_ns = now
        if buf:
            self.tail_partial = (buf, last_partial_ns)
        self.done.set()

    def _line(self, line, now):
        m = HB_RE.match(line)
        with self.lock:
            if m:
                seq = int(m.group(1))
                if self.last_hb is not None:
                    self.max_gap_ns = max(self.max_gap_ns, now - self.last_hb[1])
                else:
                    self.first_hb = (seq, now)
                self.last_hb = (seq, now)
                self.hb_count += 1
                if self.record_hb:
                    self.hb_log.append((seq, now))
                return
            text = line.decode("ascii", "replace")
            self.lines.append((now, text))
            if text == "XG READY":
                self.ready.set()

    def find(self, prefix):
        with self.lock:
            return [t for _, t in self.lines if t.startswith(prefix)]

    def close(self):
        try:
            self.srv.close()
        except OSError:
            pass


class QMP:
    """A minimal QMP client over a unix socket."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError("QMP socket %s did not come up" % path)
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rb")
        self.events = []
        self.greeting = self._read()
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise RuntimeError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (name, r["error"].get("desc")))
            return r.get("return")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


TRACE_RE = re.compile(r"^\d+@(\d+)\.(\d{6}):(\w+) ?(.*)$")


def read_trace(path):
    """[(realtime_ns, event, args)] from a QEMU log-backend trace (-msg timestamp=on)."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = TRACE_RE.match(line.strip())
                if m:
                    out.append((int(m.group(1)) * 10**9 + int(m.group(2)) * 1000,
                                m.group(3), m.group(4)))
    except OSError:
        pass
    return out


def downtime_from_trace(src, dst):
    """QEMU's downtime checkpoints (both sides, host realtime) -> timeline in ms
    after src-downtime-start, and the downtime up to the destination running."""
    cps = {}
    for ns, ev, args in src + dst:
        if ev == "vmstate_downtime_checkpoint":
            cps.setdefault(args.strip(), ns)
    t0 = cps.get("src-downtime-start")
    if t0 is None:
        return None, None
    names = [("paused", "src-vm-stopped"), ("last_page_sent", "src-iterable-saved"),
             ("state_sent", "src-non-iterable-saved"), ("source_done", "src-downtime-end"),
             ("receiver_ready", "dst-precopy-loadvm-completed"),
             ("dest_running", "dst-precopy-bh-vm-started")]
    tl = {k: round((cps[c] - t0) / 1e6, 3) for k, c in names if c in cps}
    return tl, tl.get("dest_running")


def rounds_from_trace(src, total_pages, t_start_ns):
    """Per-sync dirty pages from migration_bitmap_sync_end. QEMU traces
    num_dirty_pages_period, which it zeroes after a sync once a second has
    passed since the last zeroing; this undoes that. Round 0 = every page."""
    rounds = [{"round": 0, "final": False, "pages_dirty": total_pages, "start_ms": 0.0}]
    prev, t_reset = 0, None
    syncs = [(ns, int(a.split()[-1])) for ns, ev, a in src
             if ev == "migration_bitmap_sync_end" and a.split()[-1].isdigit()]
    stop_ns = None
    for ns, ev, a in src:
        if ev == "vmstate_downtime_checkpoint" and a.strip() == "src-vm-stopped":
            stop_ns = ns
    for i, (ns, val) in enumerate(syncs):
        if t_reset is None:
            t_reset = ns
            prev = val
            continue  # the setup sync
        delta = val - prev if val >= prev else val
        prev = val
        if ns - t_reset > 1_000_000_000:
            t_reset, prev = ns, 0
        rounds.append({"round": len(rounds), "final": stop_ns is not None and ns >= stop_ns,
                       "pages_dirty": delta,
                       "start_ms": round((ns - t_start_ns) / 1e6, 3)})
    return rounds


def qemu_version(qemu):
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0].strip() if out else None


def qemu_major(version):
    m = re.search(r"version (\d+)\.", version or "")
    return int(m.group(1)) if m else None


CONFIGS = {
    # QEMU with the same target as xmig's `downtime` policy, and a link limit
    # far above what loopback does here, so only the downtime rule decides.
    "qemu-dl50": {"downtime-limit": 50, "max-bandwidth": 10 << 30},
    # QEMU's defaults (downtime-limit 300 ms, max-bandwidth 128 MiB/s).
    "qemu-default": {},
}


def migrate(qemu, guest, mem, append, config, workdir, run_before_s=1.0, window_s=8.0,
            tail_s=1.0, poll_s=0.05, boot_timeout_s=60.0):
    """One QEMU live migration of the test guest. Returns a dict (see run)."""
    os.makedirs(workdir, exist_ok=True)
    # Guest time: run_before + the migration window + a tail on the destination.
    # QEMU stops the guest's clock (TSC) while it is paused, so this is
    # wall time plus the downtime.
    life_s = int(run_before_s + window_s + tail_s + 0.999)
    cmdline = "%s time=%d" % (append, life_s)
    res = {"qemu_config": config, "qemu_params_set": CONFIGS[config], "guest_cmdline": cmdline,
           "ok": False, "error": ""}
    socks = {n: os.path.join(workdir, n) for n in
             ("src-con", "dst-con", "src-qmp", "dst-qmp")}
    for p in socks.values():
        if os.path.exists(p):
            os.unlink(p)
    port = free_tcp_port()

    def qemu_cmd(side, extra):
        return [qemu, "-accel", "tcg", "-M", "pc", "-m", str(mem // (1 << 20)) + "M",
                "-nodefaults", "-display", "none", "-no-reboot",
                "-kernel", guest, "-append", cmdline,
                "-chardev", "socket,id=dbg,path=" + socks[side + "-con"],
                "-device", "isa-debugcon,iobase=0xe9,chardev=dbg",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-qmp", "unix:%s,server=on,wait=off" % socks[side + "-qmp"],
                "-msg", "timestamp=on", "-D", os.path.join(workdir, side + ".trace"),
                "-trace", "enable=vmstate_downtime_checkpoint",
                "-trace", "enable=migration_bitmap_sync_end"] + extra

    con = {"src": Console(socks["src-con"], "src"), "dst": Console(socks["dst-con"], "dst")}
    procs = {}
    qmp = {}
    errs = {}
    try:
        for side, extra in (("dst", ["-incoming", "tcp:127.0.0.1:%d" % port]), ("src", [])):
            errs[side] = open(os.path.join(workdir, side + ".stderr"), "wb")
            procs[side] = subprocess.Popen(qemu_cmd(side, extra), stdin=subprocess.DEVNULL,
                                           stdout=errs[side], stderr=subprocess.STDOUT)
            qmp[side] = QMP(socks[side + "-qmp"])
        res["qemu_cmd"] = " ".join(qemu_cmd("src", []))
        if not con["src"].ready.wait(boot_timeout_s):
            raise RuntimeError("source guest not READY in %d s: %s" %
                               (boot_timeout_s, con["src"].find("XG") or
                                tail(os.path.join(workdir, "src.stderr"))))
        time.sleep(run_before_s)
        if CONFIGS[config]:
            qmp["src"].cmd("migrate-set-parameters", **CONFIGS[config])
        res["qemu_params"] = qmp["src"].cmd("query-migrate-parameters")
        res["qemu_capabilities"] = {c["capability"]: c["state"] for c in
                                    qmp["src"].cmd("query-migrate-capabilities") if c["state"]}
        samples = []
        last_active = None
        t0 = time.time_ns()
        qmp["src"].cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        deadline = time.monotonic() + window_s
        status = None
        while True:
            info = qmp["src"].cmd("query-migrate")
            now = time.time_ns()
            status = info.get("status")
            ram = info.get("ram", {})
            samples.append({"t_ms": round((now - t0) / 1e6, 1), "status": status,
                            "dirty_sync_count": ram.get("dirty-sync-count"),
                            "transferred": ram.get("transferred"),
                            "remaining": ram.get("remaining"),
                            "dirty_pages_rate": ram.get("dirty-pages-rate"),
                            "normal": ram.get("normal"), "duplicate": ram.get("duplicate")})
            if status in ("completed", "failed", "cancelled"):
                break
            last_active = info
            if time.monotonic() > deadline:
                # Not converged in the window: cancel; the guest keeps running
                # on the source (and exits there at the end of its life).
                qmp["src"].cmd("migrate_cancel")
                for _ in range(200):
                    info = qmp["src"].cmd("query-migrate")
                    if info.get("status") in ("cancelled", "failed", "completed"):
                        break
                    time.sleep(0.05)
                status = info.get("status")
                res["cancelled_after_s"] = window_s
                break
            time.sleep(poll_s)
        res["query_migrate"] = info
        if status != "completed" and last_active is not None:
            res["query_migrate_last_active"] = last_active
        res["migrate_start_realtime_ns"] = t0
        res["samples"] = samples
        res["status"] = status
        res["migrated"] = status == "completed"
        if res["migrated"]:
            qmp["src"].cmd("quit")
            target, other = "dst", "src"
        else:
            target, other = "src", "dst"
            try:
                qmp["dst"].cmd("quit")
            except (OSError, RuntimeError):
                pass  # the destination QEMU quits by itself when the stream breaks
        # Wait for the running guest to end its life and exit via port 0xf4.
        try:
            rc = procs[target].wait(timeout=life_s + 60)
        except subprocess.TimeoutExpired:
            rc = None
        res["exit_status"] = rc
        con[target].done.wait(5)
        try:
            procs[other].wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        trs = read_trace(os.path.join(workdir, "src.trace"))
        trd = read_trace(os.path.join(workdir, "dst.trace"))
        res["timeline_ms"], res["downtime_ms"] = downtime_from_trace(trs, trd)
        res["per_round"] = rounds_from_trace(trs, mem // 4096, t0)
        s, d = con["src"], con["dst"]
        d_first = d.first_hb
        if res["migrated"] and s.tail_partial and d.first_raw and \
                not d.first_raw[0].startswith(b"XG "):
            # The guest was paused in the middle of a console line: QEMU has
            # no line buffer, so its first bytes went out on the source and
            # the rest on the destination. Joined, it is the destination's
            # first line, complete at the destination's time (as xmig's VMM,
            # which migrates its partial line, reports it).
            m = HB_RE.match((s.tail_partial[0] + d.first_raw[0]).rstrip(b"\r"))
            if m:
                d_first = (int(m.group(1)), d.first_raw[1])
                res["heartbeat_split_across_migration"] = True
        hb = {"source_last_seq": s.last_hb[0] if s.last_hb else None,
              "source_last_realtime_ns": s.last_hb[1] if s.last_hb else None,
              "dest_first_seq": d_first[0] if d_first else None,
              "dest_count": d.hb_count,
              "dest_max_gap_ms": round(d.max_gap_ns / 1e6, 3),
              "source_max_gap_ms": round(s.max_gap_ns / 1e6, 3)}
        res["heartbeat"] = hb
        res["guest_downtime_ms"] = None
        if res["migrated"] and s.last_hb and d_first:
            res["guest_downtime_ms"] = round((d_first[1] - s.last_hb[1]) / 1e6, 3)
        checks = con[target].find("XG CHECK")
        exits = con[target].find("XG EXIT")
        errs_lines = con["src"].find("XG ERR") + con["dst"].find("XG ERR")
        with con[target].lock:
            st = [(ns, int(m.group(1))) for ns, t in con[target].lines
                  for m in [STAT_RE.match(t)] if m]
        d = [(b[1] - a[1]) / ((b[0] - a[0]) / 1e9) for a, b in zip(st, st[1:])
             if b[1] > a[1] and b[0] > a[0]]
        res["guest_write_rate_pps"] = round(sum(d) / len(d)) if d else None
        res["guest_lines"] = {side: [t for t in c.find("XG ") if not t.startswith("XG STAT")]
                              [:20] for side, c in con.items()}
        check_ok = (rc == 1 and bool(checks) and checks[-1].endswith("errors=0") and
                    exits == ["XG EXIT 0"] and not errs_lines)
        cont = (not res["migrated"]) or (hb["dest_first_seq"] is not None and
                                        hb["source_last_seq"] is not None and
                                        hb["dest_first_seq"] == hb["source_last_seq"] + 1)
        where = "destination" if res["migrated"] else "source (migration cancelled)"
        if check_ok and cont:
            res["guest_check"] = "clean: guest exited 0 on the %s (QEMU status %s) after \"%s\"" % (
                where, rc, checks[-1])
        else:
            res["guest_check"] = "FAILED on the %s: QEMU status %s, %s, %s%s" % (
                where, rc, checks[-1] if checks else "no XG CHECK line",
                exits[-1] if exits else "no XG EXIT line",
                "" if cont else ", heartbeat does not continue (%s then %s)" % (
                    hb["source_last_seq"], hb["dest_first_seq"]))
        res["guest_check_ok"] = check_ok and cont
        # ok: the run did what it should and the guest verified itself,
        # wherever it ended. Not converging in the window is an outcome
        # (migrated=False, converged=False), not a failure; a failed
        # migration (status "failed") is one.
        res["ok"] = res["guest_check_ok"] and status in ("completed", "cancelled")
        if not res["ok"]:
            res["error"] = res["guest_check"] if status in ("completed", "cancelled") else \
                "migration %s: %s" % (status, info.get("error-desc", ""))
    except Exception as e:  # noqa: BLE001 - every failure is recorded, never raised
        res["error"] = "%s: %s" % (type(e).__name__, e)
        res["ok"] = False
    finally:
        for q in qmp.values():
            q.close()
        for p in procs.values():
            kill_proc(p)
        for f in errs.values():
            f.close()
        for c in con.values():
            c.close()
        for p in socks.values():
            if os.path.exists(p):
                os.unlink(p)
    return res
