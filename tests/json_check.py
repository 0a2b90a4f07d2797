#!/usr/bin/env python3
"""Check the tools' JSON results against docs/json.md (schema 1): xmig-send,
xmig-recv, xmig-simulate and xmig-dump.

Usage: tests/json_check.py FILE...   (exit 1 naming the first file and field
that does not conform). A file of one object per line (xmig-recv
--keep-listening: JSON Lines) has each line checked. Every field must be present, of its type, and null
only where the schema allows it; no field may be unknown.
"""
import json
import sys

NUM = (int, float)
STR = (str,)
BOOL = (bool,)
INT = (int,)

# field: (types, nullable)
TOP = {
    "schema": (INT, False), "tool": (STR, False), "role": (STR, False),
    "version": (STR, False), "backend": (STR, True), "transport": (STR, True),
    "policy": (STR, True), "ok": (BOOL, False), "error": (STR, True),
    "error_code": (STR, True), "guest_pages": (INT, True), "page_size": (INT, True),
    "total_ms": (NUM, False), "bytes": (INT, False), "rounds": (INT, False),
    "downtime_ms": (NUM, True), "target_downtime_ms": (NUM, True),
    "guest_downtime_ms": (NUM, True), "heartbeat": ((dict,), False),
    "converged": (BOOL, True), "verify_requested": (BOOL, False),
    "verified": (BOOL, True), "digest_ms": (NUM, True), "guest_check": (STR, True),
    "verify_excluded_pages": (INT, False), "outcome_by_query": (BOOL, False),
    "timeline_ms": ((dict,), False), "per_round": ((list,), False),
}
HEARTBEAT = {k: (NUM, False) for k in ("source_last_seq", "source_last_realtime_ns",
                                       "dest_first_seq", "dest_count", "dest_max_gap_ms")}
TIMELINE = {k: (NUM, True) for k in ("pause_requested", "paused", "last_page_sent",
                                     "state_sent", "receiver_ready", "commit_sent",
                                     "dest_running")}
ROUND = {"round": (INT, False), "final": (BOOL, False), "pages_dirty": (INT, False),
         "pages_sent": (INT, False), "pages_zero": (INT, False),
         "pages_absent": (INT, False), "bytes": (INT, False), "start_ms": (NUM, False),
         "duration_ms": (NUM, False), "bandwidth_Bps": (NUM, False),
         "dirty_rate_pps": (NUM, False)}


def fields(obj, spec, where):
    if not isinstance(obj, dict):
        raise ValueError("%s: not an object" % where)
    for k in obj:
        if k not in spec:
            raise ValueError("%s.%s: not in the schema" % (where, k))
    for k, (types, nullable) in spec.items():
        if k not in obj:
            raise ValueError("%s.%s: missing" % (where, k))
        v = obj[k]
        if v is None:
            if not nullable:
                raise ValueError("%s.%s: null, which it may not be" % (where, k))
        elif isinstance(v, bool) and bool not in types:
            raise ValueError("%s.%s: a boolean where a number belongs" % (where, k))
        elif not isinstance(v, types):
            raise ValueError("%s.%s: %r is not %s" % (where, k, v,
                                                      "/".join(t.__name__ for t in types)))


# xmig-simulate's object
SIM_TOP = {"schema": (INT, False), "tool": (STR, False), "version": (STR, False),
           "model": ((dict,), False), "limits": ((dict,), False),
           "results": ((list,), False)}
SIM_MODEL = {"mem_bytes": (INT, False), "page_size": (INT, False), "link_Bps": (NUM, False),
             "rtt_ms": (NUM, False), "dirty": (STR, False), "zero_fraction": (NUM, False),
             "pause_cost_ms": (NUM, False)}
SIM_LIMITS = {"target_downtime_ms": (NUM, False), "max_rounds": (INT, False),
              "on_no_converge": (STR, False)}
SIM_RESULT = {"policy": (STR, False), "aborted": (BOOL, False), "converged": (BOOL, True),
              "downtime_ms": (NUM, True), "total_ms": (NUM, False), "bytes": (INT, False),
              "live_rounds": (INT, False), "per_round": ((list,), False)}
SIM_ROUND = {"round": (INT, False), "pages": (INT, False), "bytes": (INT, False),
             "duration_ms": (NUM, False), "dirtied": (INT, False), "then": (STR, False)}


def check_simulate(d):
    fields(d, SIM_TOP, "$")
    fields(d["model"], SIM_MODEL, "$.model")
    fields(d["limits"], SIM_LIMITS, "$.limits")
    if d["schema"] != 1:
        raise ValueError("$.schema: %r, this checker knows 1" % d["schema"])
    if d["limits"]["on_no_converge"] not in ("stop", "abort"):
        raise ValueError("$.limits.on_no_converge: %r" % d["limits"]["on_no_converge"])
    if not d["results"]:
        raise ValueError("$.results: empty")
    for i, r in enumerate(d["results"]):
        w = "$.results[%d]" % i
        fields(r, SIM_RESULT, w)
        if r["aborted"] != (r["downtime_ms"] is None) or r["aborted"] != (
                r["converged"] is None):
            raise ValueError("%s: downtime_ms and converged are null exactly when aborted" % w)
        if r["live_rounds"] != len(r["per_round"]):
            raise ValueError("%s.live_rounds %d, but %d per_round entries" % (
                w, r["live_rounds"], len(r["per_round"])))
        for j, x in enumerate(r["per_round"]):
            fields(x, SIM_ROUND, "%s.per_round[%d]" % (w, j))
            last = j + 1 == len(r["per_round"])
            want = ("abort" if r["aborted"] else "stop") if last else "continue"
            if x["round"] != j or x["then"] != want:
                raise ValueError("%s.per_round[%d]: round %r then %r (want %d, %s)" % (
                    w, j, x["round"], x["then"], j, want))


# xmig-dump's object
DUMP_TOP = {"schema": (INT, False), "tool": (STR, False), "version": (STR, False),
            "input": (STR, False), "format": (STR, True), "ok": (BOOL, False),
            "error": (STR, True), "header": ((dict,), True), "records": (INT, False),
            "bytes": (INT, False), "state_records": (INT, False),
            "digest_record": (BOOL, False), "end": (BOOL, False),
            "sender_error": (STR, True), "rounds": (INT, False),
            "per_round": ((list,), False)}
DUMP_HEADER = {"version": (INT, False), "guest_kind": (STR, False), "backend": (STR, False),
               "guest_pages": (INT, False), "page_size": (INT, False), "vcpus": (INT, False),
               "digest": (BOOL, False), "duplex": (BOOL, False)}
DUMP_ROUND = {"round": (INT, False), "final": (BOOL, False), "pages": (INT, False),
              "pages_full": (INT, False), "pages_zero": (INT, False),
              "pages_absent": (INT, False), "bytes": (INT, False),
              "duration_ms": (NUM, False)}


def check_dump(d):
    fields(d, DUMP_TOP, "$")
    if d["schema"] != 1:
        raise ValueError("$.schema: %r, this checker knows 1" % d["schema"])
    if d["format"] not in (None, "xmig", "xl", "libxenguest"):
        raise ValueError("$.format: %r" % d["format"])
    if d["ok"] != (d["error"] is None):
        raise ValueError("$.ok is %r but error is %r" % (d["ok"], d["error"]))
    if d["ok"] and not (d["end"] and d["header"] and d["format"] in ("xmig", "xl")):
        raise ValueError("$: ok without a header and END")
    if d["header"] is not None:
        fields(d["header"], DUMP_HEADER, "$.header")
    if d["rounds"] != len(d["per_round"]):
        raise ValueError("$.rounds %d, but %d per_round entries" % (d["rounds"],
                                                                   len(d["per_round"])))
    for i, r in enumerate(d["per_round"]):
        fields(r, DUMP_ROUND, "$.per_round[%d]" % i)


def check(d):
    if isinstance(d, dict) and d.get("tool") == "xmig-simulate":
        return check_simulate(d)
    if isinstance(d, dict) and d.get("tool") == "xmig-dump":
        return check_dump(d)
    fields(d, TOP, "$")
    fields(d["heartbeat"], HEARTBEAT, "$.heartbeat")
    fields(d["timeline_ms"], TIMELINE, "$.timeline_ms")
    for i, r in enumerate(d["per_round"]):
        fields(r, ROUND, "$.per_round[%d]" % i)
    if d["schema"] != 1:
        raise ValueError("$.schema: %r, this checker knows 1" % d["schema"])
    if d["role"] not in ("send", "recv") or d["tool"] != "xmig-" + d["role"]:
        raise ValueError("$.tool/$.role: %r/%r" % (d["tool"], d["role"]))
    if d["ok"] != (d["error"] is None) or d["ok"] != (d["error_code"] is None):
        raise ValueError("$.ok is %r but error is %r (%r)" % (d["ok"], d["error"],
                                                               d["error_code"]))
    if d["rounds"] != len(d["per_round"]):
        raise ValueError("$.rounds %d, but %d per_round entries" % (d["rounds"],
                                                                   len(d["per_round"])))
    if d["role"] == "recv":
        for k in ("policy", "downtime_ms", "target_downtime_ms", "converged"):
            if d[k] is not None:
                raise ValueError("$.%s: %r, but a receiver cannot know it: null" % (k, d[k]))
    elif d["ok"] and d["rounds"] and d["converged"] is None:
        raise ValueError("$: a sender's successful migration without converged")
    elif d["ok"] and d["rounds"] and (d["downtime_ms"] is None) != d["outcome_by_query"]:
        raise ValueError("$: a sender's successful migration has downtime_ms exactly "
                         "when DONE came (outcome_by_query false)")
    if d["outcome_by_query"] and d["role"] != "send":
        raise ValueError("$.outcome_by_query: only a sender asks")
    if d["verified"] is True and not d["verify_requested"]:
        raise ValueError("$.verified true without verify_requested")


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in argv[1:]:
        try:
            with open(path) as f:
                text = f.read()
            try:
                objs = [json.loads(text)]
            except ValueError:
                lines = [l for l in text.split("\n") if l.strip()]
                if len(lines) < 2:
                    raise
                objs = [json.loads(l) for l in lines]  # JSON Lines
            for i, d in enumerate(objs):
                try:
                    check(d)
                except ValueError as e:
                    raise ValueError("object %d: %s" % (i + 1, e)) if len(objs) > 1 else e
        except (OSError, ValueError) as e:
            print("%s: %s" % (path, e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
