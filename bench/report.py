#!/usr/bin/env python3
"""The micro-benchmark part of `./dev bench`: reads what `dev bench` left in OUT_DIR and prints the
callgrind instructions per read+write and the micro-benchmarks against raw syscalls and memcpy.
(The data-plane table is bench/netns_bench.py's.)

usage: bench/report.py OUT_DIR COUNT
  OUT_DIR  callgrind, io.json, offload.json, checksum.json
  COUNT    the round trips each callgrind run of tunkit_io_bench made (--count MODE COUNT)
"""
import json, os, sys

if len(sys.argv) != 3 or not sys.argv[2].isdigit():
    print(__doc__.strip().split("\n\n", 1)[1], file=sys.stderr)
    sys.exit(2)
out, n = sys.argv[1], int(sys.argv[2]) + 100  # io_bench warms up with 100 round trips
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
