# SPDX-License-Identifier: MIT
"""Shared helpers of the benchmark harness (stdlib only)."""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

SCHEMA = "xmig-bench/1"

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text):
    """'256M' -> bytes (binary suffixes, like the tools and the test guest)."""
    m = re.fullmatch(r"(\d+)([KMGT]?)", text.strip().upper())
    if not m:
        raise ValueError("bad size: %r" % text)
    return int(m.group(1)) * _UNITS[m.group(2)]


def fmt_size(n):
    for u in ("T", "G", "M", "K"):
        if n >= _UNITS[u] and n % _UNITS[u] == 0:
            return "%d%s" % (n // _UNITS[u], u)
    return str(n)


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def stats(values):
    """median/min/max/n of the numbers in values (None ignored)."""
    v = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if not v:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v)}


def log(msg, *, loud=False):
    if loud:
        bar = "*" * 78
        print("%s\n*** %s\n%s" % (bar, msg, bar), file=sys.stderr, flush=True)
    else:
        print(msg, file=sys.stderr, flush=True)


def kill_proc(p, grace=3.0):
    """Stop a child we started: SIGTERM, then SIGKILL after grace seconds."""
    if p is None or p.poll() is not None:
        return
    try:
        p.terminate()
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""
