#!/usr/bin/env python3
"""The table of `./dev bench`: reads the results that `dev bench` left in OUT_DIR and prints one
table of ratios (each forwarder path against the veth pair and the reference forwarder), the
callgrind instructions per read+write, and the micro-benchmarks against raw syscalls and memcpy.

usage: bench/report.py OUT_DIR COUNT
  OUT_DIR  the harness's output per forwarder mode (plain, ref, offload, offload_uring, split,
           split_uring, queues2), callgrind, io.json, offload.json, checksum.json
  COUNT    the round trips each callgrind run of tunkit_io_bench made (--count MODE COUNT)
"""
import json, os, re, sys

if len(sys.argv) != 3 or not sys.argv[2].isdigit():
    print(__doc__.strip().split("\n\n", 1)[1], file=sys.stderr)
    sys.exit(2)
out, n = sys.argv[1], int(sys.argv[2]) + 100  # io_bench warms up with 100 round trips
def rows(name):
    r = {}
    for line in open(os.path.join(out, name)):
        m = re.match(r"(\w+) vnet=\d mtu=\d+ tcp_gbps=([\d.]+) \S+ udp64_pps=([\d.]+)", line)
        if m: r[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return r
R = {k: rows(k) for k in ["plain", "ref", "offload", "offload_uring", "split", "split_uring", "queues2"]}
ref, refv = R["ref"].get("ref", (0, 0)), R["offload"].get("ref", (0, 0))
def div(a, b): return a / b if b else 0.0
print()
print(f"{'path':34} {'TCP Gbit/s':>10} {'x veth':>7} {'x ref':>7} {'UDP64 pkt/s':>12} {'x veth':>7} {'x ref':>7}")
def line(label, v, veth, r):
    print(f"{label:34} {v[0]:10.2f} {div(v[0], veth[0]):7.2f} {div(v[0], r[0]):7.2f} {v[1]:12.0f} {div(v[1], veth[1]):7.2f} {div(v[1], r[1]):7.2f}")
line("veth pair (no user space)", R["ref"]["veth"], R["ref"]["veth"], ref)
line("ref forwarder, MTU 1500", ref, R["ref"]["veth"], ref)
line("ref forwarder --vnet (TSO/USO)", refv, R["offload"]["veth"], refv)
labels = {"plain": "tunkit loop", "ref": "tunkit uring", "offload": "tunkit --offload loop",
          "offload_uring": "tunkit --offload uring", "split": "tunkit --split loop",
          "split_uring": "tunkit --split uring", "queues2": "tunkit --queues 2 uring"}
for k, label in labels.items():
    v = R[k].get("candidate", (0, 0))
    r = refv if k.startswith(("offload", "split")) else ref
    line(label, v, R[k]["veth"], r)
po, pu = R["offload"].get("candidate", (0, 0)), R["offload_uring"].get("candidate", (0, 0))
print(f"split vs pass-through, TCP: loop {div(R['split'].get('candidate', (0,0))[0], po[0]):.2f}x, "
      f"uring {div(R['split_uring'].get('candidate', (0,0))[0], pu[0]):.2f}x")
print()
cg = dict(l.split() for l in open(os.path.join(out, "callgrind")) if l.strip())
if "raw" in cg and "tunkit" in cg:
    raw, tk = int(cg["raw"]) / n, int(cg["tunkit"]) / n
    print(f"user-space instructions per read+write (callgrind): raw {raw:.0f}, tunkit {tk:.0f} (+{tk - raw:.0f})")
try:
    io = {b["name"]: b for b in json.load(open(os.path.join(out, "io.json")))["benchmarks"]}
    t = {k: io[k + "_median"]["cpu_time"] for k in ["BM_raw", "BM_tunkit"] if k + "_median" in io}
    if len(t) == 2:
        print(f"time per round trip (write + kernel echo + read): raw {t['BM_raw']:.0f} ns, tunkit "
              f"{t['BM_tunkit']:.0f} ns ({100 * (t['BM_tunkit'] / t['BM_raw'] - 1):+.1f} %)")
    for k in ["BM_batch/loop_median", "BM_batch/uring_median"]:
        if k in io: print(f"{k[:-7]}: {io[k]['items_per_second'] / 1e3:.0f} k round trips/s (raw: {1e6 / t.get('BM_raw', 1e9) :.0f} k/s)")
except Exception as e:
    print("io_bench:", e)
try:
    ob = json.load(open(os.path.join(out, "offload.json")))["benchmarks"]
    memcpy = next(b["bytes_per_second"] for b in ob if b["name"] == "BM_memcpy")
    for b in ob:
        if "vs_memcpy" in b: print(f"{b['name']:36} {b['bytes_per_second'] / 1e9:6.1f} GB/s {b['vs_memcpy']:5.2f}x memcpy")
    for b in json.load(open(os.path.join(out, "checksum.json")))["benchmarks"]:
        if b["name"].startswith("BM_tunkit"):
            print(f"checksum {b['name'][10:]:27} {b['bytes_per_second'] / 1e9:6.1f} GB/s {b['bytes_per_second'] / memcpy:5.2f}x memcpy (64 KiB)")
except Exception as e:
    print("offload/checksum bench:", e)
