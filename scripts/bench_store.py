#!/usr/bin/env python3
"""Replicated-store write benchmark driver for scripts/bench-store (stdlib only).

One workload, identical for both sides: WRITES committed writes of distinct ~100-byte records by
WRITERS threads, each thread on its own persistent (keep-alive) HTTP/1.1 connection, after an
unmeasured warm-up of WARMUP writes. A write is timed from sending the request to reading the
complete success response, i.e. until the store acknowledged the commit.

  etcd      POST /v3/kv/put {"key": b64, "value": b64} on the leader's client URL (JSON gateway)
  palisade  POST /v1.47/secrets/create {"Name": "bench-<n>", "Data": b64(100 bytes)} on the
            first manager's Engine-API unix socket

Usage:
  bench_store.py run etcd --endpoints URL[,URL...] [--writes N] [--writers W] [--warmup M] --out FILE
  bench_store.py run palisade --socket PATH [...] --out FILE
  bench_store.py report ETCD_JSON PALISADE_JSON [--writers W]

`run` writes a JSON result to --out and exits 0, or prints the reason on stderr and exits 2
(for Palisade: a 501 means the node does not store secrets yet).
"""

import argparse
import base64
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

RECORD_BYTES = 100
TIMEOUT_S = 30.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX socket (the Engine API)."""

    def __init__(self, path, timeout=TIMEOUT_S):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class WriteFailed(Exception):
    pass


def b64(data):
    return base64.b64encode(data).decode("ascii")


def payload(n):
    """~100 bytes, distinct per write."""
    text = ("record-%08d-" % n).encode()
    return (text * (RECORD_BYTES // len(text) + 1))[:RECORD_BYTES]


class EtcdSide:
    name = "etcd"

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.target = self.find_leader()
        self.run_id = "%x" % int(time.time() * 1000)

    def find_leader(self):
        statuses = {}
        for url in self.endpoints:
            try:
                status = self.post_json(url, "/v3/maintenance/status", {})
                statuses[url] = status
            except (OSError, WriteFailed):
                continue
        for url, status in statuses.items():
            if status.get("leader") and status.get("header", {}).get("member_id") == status.get("leader"):
                return url
        if statuses:
            return next(iter(statuses))
        raise WriteFailed("no etcd member answered /v3/maintenance/status on %s" % ",".join(self.endpoints))

    @staticmethod
    def post_json(url, path, body):
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=TIMEOUT_S)
        try:
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise WriteFailed("etcd %s%s answered %d: %s" % (url, path, response.status, data[:200]))
            return json.loads(data)
        finally:
            conn.close()

    def count_stored(self):
        """Measured records readable from a member other than the one written to."""
        prefix = ("bench/%s/m/" % self.run_id).encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        reader = next((u for u in self.endpoints if u != self.target), self.target)
        answer = self.post_json(reader, "/v3/kv/range", {"key": b64(prefix), "range_end": b64(end), "count_only": True})
        return int(answer.get("count", 0))

    def connect(self):
        parsed = urllib.parse.urlsplit(self.target)
        return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=TIMEOUT_S)

    def request(self, n, tag):
        key = ("bench/%s/%s/%08d" % (self.run_id, tag, n)).encode()
        body = json.dumps({"key": b64(key), "value": b64(payload(n))})
        return "POST", "/v3/kv/put", body


class PalisadeSide:
    name = "palisade"

    def __init__(self, socket_path):
        self.socket_path = socket_path

    def connect(self):
        return UnixHTTPConnection(self.socket_path)

    def count_stored(self):
        conn = self.connect()
        try:
            query = urllib.parse.quote(json.dumps({"name": {"bench-": True}}))
            conn.request("GET", "/v1.47/secrets?filters=" + query)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise WriteFailed(explain(self, response.status, data))
            return len(json.loads(data))
        finally:
            conn.close()

    def request(self, n, tag):
        prefix = "bench" if tag == "m" else "warm"
        body = json.dumps({"Name": "%s-%d" % (prefix, n), "Labels": {}, "Data": b64(payload(n))})
        return "POST", "/v1.47/secrets/create", body


def explain(side, status, body):
    text = body[:300].decode("utf-8", "replace").strip()
    try:
        text = json.loads(body).get("message", text)
    except (ValueError, AttributeError):
        pass
    if side.name == "palisade" and status == 501:
        return ("Palisade answered 501 to POST /secrets/create (%s): this build does not store "
                "secrets in the replicated store yet, so there is nothing to measure on the "
                "Palisade side." % text)
    return "%s write failed: HTTP %d: %s" % (side.name, status, text)


def run_writes(side, indices, tag, writers):
    """Performs the writes in `indices` with `writers` threads; returns (latencies, seconds)."""
    lock = threading.Lock()
    position = [0]
    latencies = []
    failures = []
    stop = threading.Event()

    def next_index():
        with lock:
            if position[0] >= len(indices):
                return None
            value = indices[position[0]]
            position[0] += 1
            return value

    def writer():
        conn = None
        mine = []
        try:
            conn = side.connect()
            while not stop.is_set():
                n = next_index()
                if n is None:
                    break
                method, path, body = side.request(n, tag)
                start = time.perf_counter()
                conn.request(method, path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                if response.status not in (200, 201):
                    raise WriteFailed(explain(side, response.status, data))
                mine.append(elapsed)
        except (OSError, http.client.HTTPException, WriteFailed) as err:
            with lock:
                failures.append(str(err) if isinstance(err, WriteFailed) else "%s write failed: %s: %s" % (side.name, type(err).__name__, err))
            stop.set()
        finally:
            if conn is not None:
                conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=writer, daemon=True) for _ in range(writers)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    if failures:
        raise WriteFailed(failures[0])
    return latencies, seconds


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 1)))  # ceil(q*n), nearest-rank method
    return sorted_values[min(rank, len(sorted_values)) - 1]


def cmd_run(args):
    try:
        if args.side == "etcd":
            side = EtcdSide([u for u in args.endpoints.split(",") if u])
        else:
            side = PalisadeSide(args.socket)
        run_writes(side, list(range(args.warmup)), "w", args.writers)
        latencies, seconds = run_writes(side, list(range(args.writes)), "m", args.writers)
    except WriteFailed as err:
        print("bench_store: %s" % err, file=sys.stderr)
        return 2
    try:
        stored = side.count_stored()
    except (OSError, http.client.HTTPException, ValueError, WriteFailed) as err:
        print("bench_store: cannot count the stored %s records: %s" % (side.name, err), file=sys.stderr)
        return 2
    if stored != args.writes:
        print("bench_store: %s acknowledged %d writes but holds %d measured records" % (side.name, args.writes, stored), file=sys.stderr)
        return 2
    latencies.sort()
    result = {
        "side": side.name,
        "target": getattr(side, "target", getattr(side, "socket_path", "")),
        "writes": len(latencies),
        "writers": args.writers,
        "seconds": seconds,
        "throughput": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": latencies[-1] * 1e3,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print("%-9s %6d writes in %6.2f s  %8.1f writes/s  p50 %7.2f ms  p99 %7.2f ms" % (
        side.name, result["writes"], seconds, result["throughput"], result["p50_ms"], result["p99_ms"]))
    return 0


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_report(args):
    etcd, pal = load(args.etcd), load(args.palisade)
    print()
    print("Replicated store: committed writes, 3 members, fsync on, %s writers, ~%d-byte records"
          % ((etcd or pal or {}).get("writers", args.writers), RECORD_BYTES))
    print("%-26s %10s %12s %10s %10s" % ("", "writes", "writes/s", "p50 ms", "p99 ms"))
    for label, r in (("etcd 3.4 (kv put)", etcd), ("Palisade (secret create)", pal)):
        if r:
            print("%-26s %10d %12.1f %10.2f %10.2f" % (label, r["writes"], r["throughput"], r["p50_ms"], r["p99_ms"]))
        else:
            print("%-26s %10s" % (label, "no result"))
    print()
    print("Target: Palisade throughput >= 1.0x etcd's, and Palisade p99 <= etcd's p99.")
    if not (etcd and pal):
        print("Ratios: not available (one side has no result).")
        return 1
    tput = pal["throughput"] / etcd["throughput"]
    p99 = pal["p99_ms"] / etcd["p99_ms"]
    print("Throughput Palisade/etcd: %.2fx  (%s)" % (tput, "met" if tput >= 1.0 else "NOT met"))
    print("p99 Palisade/etcd:        %.2fx  (%s)" % (p99, "met" if p99 <= 1.0 else "NOT met"))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("side", choices=["etcd", "palisade"])
    run.add_argument("--endpoints", default="")
    run.add_argument("--socket", default="")
    run.add_argument("--writes", type=int, default=4000)
    run.add_argument("--writers", type=int, default=16)
    run.add_argument("--warmup", type=int, default=100)
    run.add_argument("--out", required=True)
    report = sub.add_parser("report")
    report.add_argument("etcd")
    report.add_argument("palisade")
    report.add_argument("--writers", type=int, default=16)
    args = parser.parse_args()
    if args.command == "run":
        if args.side == "etcd" and not args.endpoints:
            parser.error("etcd needs --endpoints")
        if args.side == "palisade" and not args.socket:
            parser.error("palisade needs --socket")
        if args.writes < 1 or args.writers < 1 or args.warmup < 0:
            parser.error("--writes and --writers must be positive")
        return cmd_run(args)
    return cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
