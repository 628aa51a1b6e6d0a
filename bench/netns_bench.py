#!/usr/bin/env python3
"""tunkit's data-plane benchmark: forwarders between two TUN devices, each in a network namespace
of its own, measured next to a veth pair (no user space) and the reference forwarder
(bench/ref_forwarder.cpp, one read and one write per packet), in interleaved rounds.

usage: bench/netns_bench.py [options] [-- CMD ARGS...]

Paths (--paths picks some, comma-separated; by default all that apply):
  veth             namespaces A and B joined by a veth pair: the kernel alone
  ref              the reference forwarder, plain
  ref-vnet         the reference forwarder --vnet: TSO/USO super-packets pass through unchanged
  tunkit           examples/forwarder, no options (its default backend: io_uring where available)
  tunkit-offload   examples/forwarder --offload (vnet devices)
  tunkit-split     examples/forwarder --split (vnet devices: the VPN path)
  tunkit-loop, tunkit-offload-loop, tunkit-split-loop: the same with --backend loop (--loop)
  NAME             with -- CMD ARGS: that command (--name NAME, default cmd), started as
                   `CMD ARGS DEV_A DEV_B` in the forwarder's namespace; it must attach to the two
                   existing TUN devices (created `mode tun`, with vnet_hdr if --vnet, multi_queue
                   if --queues > 1) and run until SIGTERM. Then the default paths are veth, the
                   reference of the same kind and the command.

Every measurement (one path in one round) gets fresh namespaces and devices: the forwarder starts
in a namespace F holding the two TUN devices; once it has attached to both (its /proc/PID/fdinfo
shows them) the devices move to A (10.201.0.1/24) and B (10.201.1.1/24). A ping from A to B must
be answered 3 of 3 times, then: TCP (iperf3, A to B), UDP 64-byte datagrams at fixed offered
rates (the loss curve), UDP 1400-byte datagrams as fast as possible from an ordinary socket and
with UDP_SEGMENT. The forwarder's CPU time comes from /proc/PID/stat; nstat and the links'
counters are taken before and after each phase. Nothing outside the namespaces is touched.

Prints one Markdown table (medians over the rounds), the loss curve, and writes everything
(results.json, table.md, loss.png, per-run logs) to the results directory. Needs root.
"""

import argparse
import ctypes
import datetime
import json
import os
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDR_A, ADDR_B = "10.201.0.1", "10.201.1.1"
NET_A, NET_B = "10.201.0.0/24", "10.201.1.0/24"
TCP_PORT, UDP_PORT = 5201, 9000
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_RATES = "100k,200k,400k,600k,800k,1M"
QUICK_RATES = "100k,400k,1M"
USO_SEGMENTS = 40  # 40 x 1400 bytes = 56000: one UDP_SEGMENT send, under 64 KiB
LOSS_GOAL = 1.0  # percent: the goal metric is the highest rate forwarded with at most this loss


class Failure(Exception):
    """A measurement that could not be made (setup, ping check, a tool that failed)."""


# ---------------------------------------------------------------------------------------------
# Processes. Every child runs in a session of its own (Ctrl-C reaches only the harness, which
# then stops them in order) and gets SIGTERM if the harness dies (PR_SET_PDEATHSIG), so that no
# forwarder outlives it. Every wait is bounded.

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(cmd, **kw):
    return subprocess.Popen(cmd, start_new_session=True, preexec_fn=_child_setup, **kw)


def run(cmd, timeout=15, check=True, log=None, input=None):
    """Runs cmd to completion within timeout seconds; returns its stdout."""
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                           start_new_session=True, preexec_fn=_child_setup)
    except subprocess.TimeoutExpired:
        raise Failure(f"timed out after {timeout} s: {shlex.join(cmd)}")
    if log is not None:
        log.write(f"$ {shlex.join(cmd)}\n{p.stdout}{p.stderr}")
        if input:
            log.write("  stdin: " + input.replace("\n", "; ") + "\n")
    if check and p.returncode != 0:
        raise Failure(f"{shlex.join(cmd)}: status {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def _session(sid):
    """The processes of session sid: a child started with start_new_session leads its own, and
    what a wrapper (a shell, strace) starts stays in it."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                v = f.read()
        except OSError:
            continue
        if int(v[v.rfind(")") + 2:].split()[3]) == sid:  # state ppid pgrp session
            pids.append(int(d))
    return pids


def _signal_session(proc, sig):
    for pid in _session(proc.pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop(proc, grace=5.0):
    """SIGTERM to proc and its session, then SIGKILL after grace seconds. Returns proc's exit
    status."""
    if proc is None:
        return None
    if proc.poll() is None:
        _signal_session(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_session(proc, signal.SIGKILL)
            proc.wait(timeout=5)
    # What the session may still hold once its leader has gone (a wrapper's child).
    _signal_session(proc, signal.SIGKILL)
    return proc.returncode


def in_ns(ns):
    return ["ip", "netns", "exec", ns]


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# What /proc tells about a forwarder: its process tree (a candidate may be a wrapper), the TUN
# devices its descriptors are attached to, and its CPU time.

def process_tree(root):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def tun_attachments(root):
    """{device name: number of queues} over the TUN descriptors of root's process tree."""
    found = {}
    for pid in process_tree(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != "/dev/net/tun":
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    m = re.search(r"^iff:\s*(\S+)", f.read(), re.M)
            except OSError:
                continue
            if m:
                found[m.group(1)] = found.get(m.group(1), 0) + 1
    return found


def cpu_ticks(root):
    """utime + stime (all threads) of root's process tree, and of its children reaped."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        v = s[s.rfind(")") + 2:].split()
        total += sum(int(x) for x in v[11:15])  # utime stime cutime cstime
    return total


def system_ticks():
    """(busy, niced, total) jiffies of the whole machine, from /proc/stat: niced is the time of
    processes of lower priority (other builds on a shared machine), which compete for the CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, v[1], sum(v)


# ---------------------------------------------------------------------------------------------
# Paths.

class Path:
    def __init__(self, name, label, cmd=None, vnet=False, ref=None):
        self.name, self.label, self.cmd, self.vnet, self.ref = name, label, cmd, vnet, ref

    @property
    def kind(self):
        return "veth" if self.cmd is None else "tun"


def make_paths(args):
    build = args.build
    ref_bin = os.path.join(build, "bench", "tunkit_ref_forwarder")
    fwd_bin = os.path.join(build, "examples", "forwarder")
    q = ["--queues", str(args.queues)] if args.queues > 1 else []
    paths = [
        Path("veth", "veth pair (no user space)"),
        Path("ref", "reference forwarder, plain", [ref_bin] + q, False, "ref"),
        Path("ref-vnet", "reference forwarder --vnet (TSO/USO pass-through)",
             [ref_bin, "--vnet"] + q, True, "ref-vnet"),
        Path("tunkit", "tunkit forwarder, no options", [fwd_bin] + q, False, "ref"),
        Path("tunkit-offload", "tunkit --offload (pass-through)", [fwd_bin, "--offload"] + q,
             True, "ref-vnet"),
        Path("tunkit-split", "tunkit --split (split + coalesce: the VPN path)",
             [fwd_bin, "--split"] + q, True, "ref-vnet"),
    ]
    for base in ["tunkit", "tunkit-offload", "tunkit-split"]:
        p = next(p for p in paths if p.name == base)
        paths.append(Path(base + "-loop", p.label.replace("tunkit", "tunkit loop backend", 1),
                          p.cmd[:1] + ["--backend", "loop"] + p.cmd[1:], p.vnet, p.ref))
    if args.cmd:
        ref = "ref-vnet" if args.vnet else "ref"
        paths.append(Path(args.name, f"{args.name}: {shlex.join(args.cmd)}", list(args.cmd),
                          args.vnet, ref))
    by_name = {p.name: p for p in paths}
    if args.paths:
        wanted = [w.strip() for w in args.paths.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            sys.exit(f"netns_bench: unknown path(s) {', '.join(unknown)}; known: "
                     f"{', '.join(by_name)}")
    elif args.cmd:
        wanted = ["veth", "ref-vnet" if args.vnet else "ref", args.name]
    else:
        wanted = ["veth", "ref", "ref-vnet", "tunkit", "tunkit-offload", "tunkit-split"]
        if args.loop:
            wanted += ["tunkit-loop", "tunkit-offload-loop", "tunkit-split-loop"]
    chosen = [by_name[w] for w in wanted]
    for p in chosen:
        if p.cmd and not (os.path.isfile(p.cmd[0]) or shutil.which(p.cmd[0])):
            sys.exit(f"netns_bench: {p.name}: {p.cmd[0]} not found (build it: ./dev bench, or "
                     f"cmake --preset bench -B build-bench && cmake --build build-bench)")
    return chosen


# ---------------------------------------------------------------------------------------------
# One measurement's namespaces and devices.

LIVE = []  # topologies not yet torn down: the cleanup on exit and on Ctrl-C


class Topology:
    def __init__(self, seq, path, args, logdir):
        tag = f"{os.getpid()}-{seq}"
        self.ns_a, self.ns_b, self.ns_f = f"tkb-{tag}-a", f"tkb-{tag}-b", f"tkb-{tag}-f"
        self.dev_a, self.dev_b = (f"tkb{seq}a", f"tkb{seq}b") if path.cmd else ("veth-a", "veth-b")
        self.path, self.args, self.logdir = path, args, logdir
        self.fwd = None
        self.fwd_out = self.fwd_err = None
        self.final_links = None
        self.children = []
        self.namespaces = []
        self.log = open(os.path.join(logdir, "commands.log"), "w")
        LIVE.append(self)

    def ip(self, ns, batch):
        """Runs iproute2 commands (one a line) inside namespace ns."""
        run(["ip", "-n", ns, "-b", "-"], input=batch, log=self.log)

    def setup(self):
        args = self.args
        names = [self.ns_a, self.ns_b] + ([self.ns_f] if self.path.cmd else [])
        for ns in names:
            run(["ip", "netns", "add", ns], log=self.log)
            self.namespaces.append(ns)
            # IPv6 off: no router solicitations or MLD reports in the counters.
            sysctls = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
            # The congestion control is a per-namespace default (A sends, B acknowledges): a
            # namespace other than the host's may only take one listed in the host's
            # net.ipv4.tcp_allowed_congestion_control (else EPERM). iperf3 -C pins it per socket
            # in any case.
            if args.cc_in_netns:
                sysctls.append(f"net.ipv4.tcp_congestion_control={args.cc}")
            run(in_ns(ns) + ["sysctl", "-qw"] + sysctls, log=self.log)
        if self.path.cmd is None:
            self.ip(self.ns_a, f"link add {self.dev_a} type veth peer name {self.dev_b} "
                               f"netns {self.ns_b}\n")
        else:
            self.start_forwarder()
        for ns, dev, addr, peer in [(self.ns_a, self.dev_a, ADDR_A, NET_B),
                                    (self.ns_b, self.dev_b, ADDR_B, NET_A)]:
            self.ip(ns, f"link set lo up\naddr add {addr}/24 dev {dev}\nlink set {dev} up\n"
                        f"route add {peer} dev {dev}\n")
        self.cc = run(in_ns(self.ns_a) + ["sysctl", "-n", "net.ipv4.tcp_congestion_control"],
                      log=self.log).strip()

    def start_forwarder(self):
        flags = " vnet_hdr" if self.path.vnet else ""
        if self.args.queues > 1:
            flags += " multi_queue"
        self.ip(self.ns_f, f"tuntap add dev {self.dev_a} mode tun{flags}\n"
                           f"tuntap add dev {self.dev_b} mode tun{flags}\n")
        cmd = in_ns(self.ns_f) + self.path.cmd + [self.dev_a, self.dev_b]
        self.log.write(f"$ {shlex.join(cmd)} &\n")
        self.fwd_out = os.path.join(self.logdir, "forwarder.stdout")
        self.fwd_err = os.path.join(self.logdir, "forwarder.stderr")
        with open(self.fwd_out, "w") as out, open(self.fwd_err, "w") as err:
            self.fwd = spawn(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        # Attached when the forwarder's descriptors (any process of its tree) name both devices,
        # with as many queues as asked: from /proc/PID/fdinfo, not a sleep.
        deadline = time.monotonic() + self.args.attach_timeout
        want = {self.dev_a: self.args.queues, self.dev_b: self.args.queues}
        while True:
            got = tun_attachments(self.fwd.pid)
            if all(got.get(d, 0) >= n for d, n in want.items()):
                break
            if self.fwd.poll() is not None:
                raise Failure(f"the forwarder exited with status {self.fwd.returncode} before "
                              f"attaching:\n{tail(self.fwd_out)}{tail(self.fwd_err)}")
            if time.monotonic() > deadline:
                raise Failure(f"the forwarder did not attach to {self.dev_a} and {self.dev_b} "
                              f"within {self.args.attach_timeout} s (attached: {got}):\n"
                              f"{tail(self.fwd_out)}{tail(self.fwd_err)}")
            time.sleep(0.02)
        self.attach_seconds = self.args.attach_timeout - (deadline - time.monotonic())
        # A TUN device keeps its queues (the forwarder's descriptors) when it changes namespace.
        self.ip(self.ns_f, f"link set {self.dev_a} netns {self.ns_a}\n"
                           f"link set {self.dev_b} netns {self.ns_b}\n")

    def check_forwarder(self):
        if self.fwd is not None and self.fwd.poll() is not None:
            raise Failure(f"the forwarder exited with status {self.fwd.returncode}:\n"
                          f"{tail(self.fwd_out)}{tail(self.fwd_err)}")

    def ping(self):
        out = run(in_ns(self.ns_a) + ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-q", ADDR_B],
                  timeout=15, check=False, log=self.log)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        answered = int(m.group(2)) if m else 0
        if answered != 3:
            self.check_forwarder()
            raise Failure(f"ping check: {answered} of 3 pings from A to B answered")

    # Counters -------------------------------------------------------------------------------
    def nstat(self, ns):
        out = run(in_ns(ns) + ["nstat", "-asz", "-j"], log=None)
        return json.loads(out).get("kernel", {})

    def links(self, ns):
        out = run(["ip", "-n", ns, "-s", "-j", "link", "show"])
        return {l["ifname"]: {f"{d}_{k}": v for d in ("rx", "tx")
                              for k, v in l.get("stats64", {}).get(d, {}).items()}
                for l in json.loads(out)}

    def snapshot(self, when):
        """Counters of both namespaces and CPU times; CPU last before and first after a phase."""
        def counters():
            return {"nstat": {"A": self.nstat(self.ns_a), "B": self.nstat(self.ns_b)},
                    "links": {"A": self.links(self.ns_a), "B": self.links(self.ns_b)}}
        s = {} if when == "before" else self.cpu()
        s.update(counters())
        if when == "before":
            s.update(self.cpu())
        return s

    def cpu(self):
        busy, niced, total = system_ticks()
        return {"t": time.monotonic(), "fwd_ticks": cpu_ticks(self.fwd.pid) if self.fwd else None,
                "sys_busy": busy, "sys_nice": niced, "sys_total": total}

    def teardown(self):
        """Stops the forwarder (its counters are printed then) and deletes the namespaces,
        which deletes the devices in them. Safe to call twice."""
        for c in self.children:
            stop(c, 2)
        self.children = []
        self.final_links = None
        if self.fwd is not None:
            if self.fwd.poll() is None:
                try:
                    self.final_links = {"A": self.links(self.ns_a), "B": self.links(self.ns_b)}
                except Failure:
                    pass
            self.fwd_status = stop(self.fwd)
            self.fwd = None
        for ns in reversed(self.namespaces):
            try:
                run(["ip", "netns", "del", ns], check=False, log=self.log)
            except Failure:
                pass
        self.namespaces = []
        if not self.log.closed:
            self.log.close()
        if self in LIVE:
            LIVE.remove(self)


def delta(before, after):
    """What changed between two snapshots: nstat counters and link counters, per namespace."""
    d = {"seconds": after["t"] - before["t"]}
    if before.get("fwd_ticks") is not None:
        d["fwd_cpu_s"] = (after["fwd_ticks"] - before["fwd_ticks"]) / CLK_TCK
    total = after["sys_total"] - before["sys_total"]
    # Of all CPUs together (200 % on two): busy, and busy with niced processes (not ours).
    ncpu = os.cpu_count() or 1
    for k in ("busy", "nice"):
        v = after[f"sys_{k}"] - before[f"sys_{k}"]
        d[f"machine_{k}_pct"] = 100.0 * ncpu * v / total if total else 0
    d["nstat"] = {ns: {k: v - before["nstat"][ns].get(k, 0) for k, v in after["nstat"][ns].items()
                       if v != before["nstat"][ns].get(k, 0)} for ns in ("A", "B")}
    d["links"] = {ns: {dev: {k: v - before["links"][ns].get(dev, {}).get(k, 0)
                             for k, v in c.items()}
                       for dev, c in after["links"][ns].items()} for ns in ("A", "B")}
    return d


# ---------------------------------------------------------------------------------------------
# The phases of one measurement.

def wait_listening(topo, port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(in_ns(topo.ns_b) + ["ss", "-Hltn", f"sport = :{port}"], check=False)
        if out.strip():
            return
        time.sleep(0.05)
    raise Failure(f"iperf3 server not listening in B after {timeout} s")


def tcp_phase(topo, args, logdir):
    with open(os.path.join(logdir, "iperf3-server.json"), "w") as out:
        server = spawn(in_ns(topo.ns_b) + ["iperf3", "-s", "-1", "-J", "-B", ADDR_B,
                                           "-p", str(TCP_PORT)],
                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    topo.children.append(server)
    wait_listening(topo, TCP_PORT)
    before = topo.snapshot("before")
    out = run(in_ns(topo.ns_a) + ["iperf3", "-c", ADDR_B, "-p", str(TCP_PORT), "-J",
                                  "-C", args.cc, "-t", str(args.tcp_seconds),
                                  "--connect-timeout", "3000"],
              timeout=args.tcp_seconds + 30, check=False)
    after = topo.snapshot("after")
    with open(os.path.join(logdir, "iperf3-client.json"), "w") as f:
        f.write(out)
    stop(server, 3)
    topo.children.remove(server)
    try:
        j = json.loads(out)
        recv = j["end"]["sum_received"]
    except (ValueError, KeyError):
        raise Failure(f"iperf3 gave no result: {out[-500:]}")
    used = {j["end"].get("sender_tcp_congestion"), j["end"].get("receiver_tcp_congestion")}
    if used != {args.cc}:
        raise Failure(f"iperf3 ran with congestion control {used}, not {args.cc}")
    d = delta(before, after)
    bits = recv["bytes"] * 8
    r = {"gbps": recv["bits_per_second"] / 1e9, "seconds": recv["seconds"],
         "retransmits": j["end"].get("sum_sent", {}).get("retransmits"),
         "cc": j["end"].get("sender_tcp_congestion"), "counters": d}
    add_cpu(r, d, recv["seconds"], bits)
    return r


def add_cpu(r, d, seconds, bits):
    """Forwarder CPU: % of one core over the phase, and % of a core per Gbit/s, which is
    100 x core-seconds per gigabit moved (the phase's length cancels out)."""
    if "fwd_cpu_s" in d:
        r["cpu_pct"] = 100.0 * d["fwd_cpu_s"] / seconds if seconds else None
        r["cpu_per_gbps"] = 100.0 * d["fwd_cpu_s"] / (bits / 1e9) if bits else None
    r["machine_busy_pct"] = d["machine_busy_pct"]
    r["machine_nice_pct"] = d["machine_nice_pct"]


def read_line(proc, timeout):
    """The first line of proc's stdout (a pipe), within timeout seconds."""
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            return None
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            return None
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    return line.decode(), rest


def udp_phase(topo, args, logdir, tag, size, rate, seconds, gso=0):
    """One UDP load: the receiver in B, the sender in A; the forwarder's and the kernel's counts."""
    load = args.udp_load
    recv_cmd = in_ns(topo.ns_b) + [load, "recv", "--bind", f"{ADDR_B}:{UDP_PORT}", "--json",
                                   "--seconds", f"{seconds + 5:g}", "--idle", "0.3"]
    if args.gro:
        recv_cmd.append("--gro")
    receiver = spawn(recv_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     stdin=subprocess.DEVNULL)
    topo.children.append(receiver)
    first = read_line(receiver, 5)
    if first is None or not first[0].startswith("ready"):
        stop(receiver, 1)
        raise Failure(f"udp receiver did not start: {receiver.stderr.read().decode()[-300:]}")
    send_cmd = in_ns(topo.ns_a) + [load, "send", "--to", f"{ADDR_B}:{UDP_PORT}", "--json",
                                   "--size", str(size), "--rate", f"{rate:g}",
                                   "--seconds", f"{seconds:g}"]
    if gso:
        send_cmd += ["--gso", str(gso)]
    before = topo.snapshot("before")
    sent_out = run(send_cmd, timeout=seconds + 15, log=topo.log)
    try:
        rest, err = receiver.communicate(timeout=seconds + 10)
    except subprocess.TimeoutExpired:
        stop(receiver, 1)
        raise Failure("udp receiver did not finish")
    after = topo.snapshot("after")
    topo.children.remove(receiver)
    sent = json.loads(sent_out)
    got = json.loads((first[1] + rest).decode().strip().splitlines()[-1])
    d = delta(before, after)
    a = d["links"]["A"].get(topo.dev_a, {})
    b = d["links"]["B"].get(topo.dev_b, {})
    # Datagrams that reached B's UDP layer: received, or refused there (UdpInErrors, which
    # counts UdpRcvbufErrors too). Where the forwarder merges datagrams into USO super-packets,
    # TUN B counts one packet per write: this count is the datagrams it forwarded then.
    at_b = got["datagrams"] + d["nstat"]["B"].get("UdpInErrors", 0)
    forwarded = max(b.get("rx_packets", 0), at_b)
    secs = sent["seconds"] or seconds
    r = {"tag": tag, "size": size, "gso": gso, "offered_rate": rate, "sent": sent["sent"],
         "sent_pps": sent["sent"] / secs, "skipped": sent["skipped"], "send_errors": sent["errors"],
         "seconds": secs,
         "tun_a_tx_packets": a.get("tx_packets"), "tun_a_tx_dropped": a.get("tx_dropped"),
         "tun_b_rx_packets": b.get("rx_packets"), "tun_b_rx_dropped": b.get("rx_dropped"),
         "at_b_udp": at_b, "forwarded": forwarded, "forwarded_pps": forwarded / secs,
         "received": got["datagrams"], "received_pps": got["datagrams"] / secs,
         "received_bytes": got["bytes"], "gbps": got["bytes"] * 8 / secs / 1e9,
         "fwd_loss_pct": loss(sent["sent"], forwarded),
         "e2e_loss_pct": loss(sent["sent"], got["datagrams"]), "counters": d}
    add_cpu(r, d, secs, got["bytes"] * 8)
    with open(os.path.join(logdir, f"udp-{tag}.json"), "w") as f:
        json.dump({"send": sent, "recv": got, "result": r}, f, indent=1)
    return r


def loss(sent, got):
    return max(0.0, 100.0 * (sent - got) / sent) if sent else None


FWD_TUNKIT = re.compile(r"^(\S+) -> (\S+): (\d+) packets, (\d+) bytes.*dropped (\d+)$", re.M)
FWD_TUNKIT_W = re.compile(r"^(\S+) -> (\S+): (\d+) writes, (\d+) segments", re.M)
FWD_REF = re.compile(r"^(\S+) -> (\S+): read (\d+), written (\d+), dropped (\d+)", re.M)


def counters_check(topo):
    """The forwarder's own counts (printed at SIGTERM) beside the TUN devices' counters over
    its whole run: on A, tx_packets is what the kernel handed to the forwarder; on B, rx_packets
    what the forwarder wrote."""
    if not topo.fwd_out:
        return None
    with open(topo.fwd_out, errors="replace") as f:
        text = f.read()
    fl = topo.final_links
    if not text or not fl:
        return None
    a = fl["A"].get(topo.dev_a, {})
    b = fl["B"].get(topo.dev_b, {})
    c = {"tun_a_tx_packets": a.get("tx_packets"), "tun_a_tx_dropped": a.get("tx_dropped"),
         "tun_b_rx_packets": b.get("rx_packets"), "tun_b_rx_dropped": b.get("rx_dropped")}
    for m in FWD_TUNKIT.finditer(text):
        if m.group(1) == topo.dev_a:
            c["fwd_read"], c["fwd_dropped"] = int(m.group(3)), int(m.group(5))
    for m in FWD_TUNKIT_W.finditer(text):
        if m.group(1) == topo.dev_a:
            c["fwd_writes"] = int(m.group(3))
            c["fwd_segments"] = int(m.group(4))
    for m in FWD_REF.finditer(text):
        if m.group(1) == topo.dev_a:
            c["fwd_read"], c["fwd_writes"], c["fwd_dropped"] = map(int, m.groups()[2:])
    return c


def measure(path, rnd, seq, args, rates, out):
    logdir = os.path.join(out, "runs", f"r{rnd + 1}-{path.name}")
    os.makedirs(logdir, exist_ok=True)
    res = {"path": path.name, "round": rnd + 1, "ok": False, "log": os.path.relpath(logdir, out)}
    topo = Topology(seq, path, args, logdir)
    t0 = time.monotonic()
    try:
        topo.setup()
        res["cc"] = topo.cc
        if path.cmd:
            res["attach_seconds"] = round(topo.attach_seconds, 3)
        topo.ping()
        if "tcp" in args.phases:
            res["tcp"] = tcp_phase(topo, args, logdir)
            topo.check_forwarder()
        if "curve" in args.phases:
            res["curve"] = []
            for rate in rates:
                res["curve"].append(udp_phase(topo, args, logdir, f"64-{int(rate)}", 64, rate,
                                              args.rate_seconds))
                topo.check_forwarder()
        if "bulk" in args.phases:
            res["bulk"] = udp_phase(topo, args, logdir, "1400-plain", 1400, 0, args.bulk_seconds)
            topo.check_forwarder()
        if "uso" in args.phases:
            res["uso"] = udp_phase(topo, args, logdir, "1400-uso", 1400, 0, args.bulk_seconds,
                                   USO_SEGMENTS)
            topo.check_forwarder()
        res["ok"] = True
    except Failure as e:
        res["error"] = str(e)
    finally:
        topo.teardown()
    res["seconds"] = round(time.monotonic() - t0, 1)
    if path.cmd:
        res["forwarder_status"] = getattr(topo, "fwd_status", None)
        res["forwarder_counters"] = counters_check(topo)
    res["udp64_pps_at_goal"] = goal_rate(res["curve"]) if "curve" in res else None
    with open(os.path.join(logdir, "result.json"), "w") as f:
        json.dump(res, f, indent=1)
    return res


def goal_rate(curve):
    """Forwarded packets/s at the highest offered rate lost at most LOSS_GOAL % at the forwarder."""
    ok = [p for p in curve if p["fwd_loss_pct"] is not None and p["fwd_loss_pct"] <= LOSS_GOAL]
    if not ok:
        return 0 if curve else None
    return max(ok, key=lambda p: p["offered_rate"])["forwarded_pps"]


# ---------------------------------------------------------------------------------------------
# Summary, table, plot.

def med(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def summarize(paths, results, rates):
    s = {}
    for p in paths:
        rs = [r for r in results if r["path"] == p.name and r["ok"]]
        e = {"rounds_ok": len(rs), "rounds": len([r for r in results if r["path"] == p.name]),
             "errors": [f"round {r['round']}: {r['error']}" for r in results
                        if r["path"] == p.name and not r["ok"]]}
        e["udp64_pps_at_goal"] = med([r["udp64_pps_at_goal"] for r in rs])
        for k in ("tcp", "bulk", "uso"):
            e[f"{k}_gbps"] = med([r[k]["gbps"] for r in rs if k in r])
            e[f"{k}_cpu_pct"] = med([r[k].get("cpu_pct") for r in rs if k in r])
            e[f"{k}_cpu_per_gbps"] = med([r[k].get("cpu_per_gbps") for r in rs if k in r])
            if k != "tcp":
                e[f"{k}_fwd_loss_pct"] = med([r[k]["fwd_loss_pct"] for r in rs if k in r])
        curve = []
        for i, rate in enumerate(rates):
            pts = [r["curve"][i] for r in rs if len(r.get("curve", [])) > i]
            curve.append({"offered_rate": rate,
                          **{k: med([x.get(k) for x in pts]) for k in
                             ("sent_pps", "forwarded_pps", "received_pps", "fwd_loss_pct",
                              "e2e_loss_pct", "cpu_pct", "tun_a_tx_dropped")}})
        e["curve"] = curve
        s[p.name] = e
    return s


def m(x):
    return x["median"] if x else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, nd=2, scale=1.0):
    return "–" if x is None else f"{x / scale:.{nd}f}"


def fmt_range(x, nd=2, scale=1.0):
    if not x:
        return "–"
    if x["n"] == 1:
        return fmt(x["median"], nd, scale)
    return (f"{x['median'] / scale:.{nd}f} ({x['min'] / scale:.{nd}f}–"
            f"{x['max'] / scale:.{nd}f})")


def goal_cell(x, rates):
    # 0: not even the lowest offered rate went through with at most LOSS_GOAL % lost.
    if not x:
        return "–"
    low = f"<{min(rates) / 1e3:g}"
    cell = [low if v == 0 else f"{v / 1e3:.0f}" for v in (x["median"], x["min"], x["max"])]
    return cell[0] if x["n"] == 1 or x["min"] == x["max"] else f"{cell[0]} ({cell[1]}–{cell[2]})"


def tables(paths, summary, rates, header):
    veth = summary.get("veth", {})
    lines = []
    lines.append("| path | vs | TCP Gbit/s | × veth | × ref | fwd CPU % | CPU % per Gbit/s | "
                 "UDP 64 B pkt/s at ≤ 1 % loss (k) | × ref | UDP 1400 B Gbit/s | "
                 "UDP USO Gbit/s |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in paths:
        e = summary[p.name]
        ref = summary.get(p.ref, {}) if p.ref else {}
        if not e["rounds_ok"]:
            lines.append(f"| {p.name} | {p.ref or ''} | failed: see below | | | | | | | | |")
            continue
        is_ref = p.ref == p.name

        def vs_ref(key):
            if is_ref or not p.ref:
                return ""
            a, b = m(e[key]), m(ref.get(key))
            # A goal rate of 0 is "below the lowest rate": no ratio.
            return "–" if key == "udp64_pps_at_goal" and not a else fmt(ratio(a, b))
        lines.append(
            f"| {p.name} | {p.ref or ''} | {fmt_range(e['tcp_gbps'])} | "
            f"{fmt(ratio(m(e['tcp_gbps']), m(veth.get('tcp_gbps'))))} | "
            f"{vs_ref('tcp_gbps')} | "
            f"{fmt(m(e['tcp_cpu_pct']), 0)} | {fmt(m(e['tcp_cpu_per_gbps']), 1)} | "
            f"{goal_cell(e['udp64_pps_at_goal'], rates)} | "
            f"{vs_ref('udp64_pps_at_goal')} | "
            f"{fmt(m(e['bulk_gbps']))} | {fmt(m(e['uso_gbps']))} |")
    main = "\n".join(lines)

    # The loss curve: per path and offered rate, medians.
    c = ["| path | " + " | ".join(f"{r / 1e3:g} k" for r in rates) + " |",
         "|---|" + "---:|" * len(rates)]
    for p in paths:
        e = summary[p.name]
        if not e["rounds_ok"]:
            continue
        cells = []
        for pt in e["curve"]:
            cells.append(f"{fmt(m(pt['sent_pps']), 0, 1e3)} → "
                         f"{fmt(m(pt['forwarded_pps']), 0, 1e3)} "
                         f"({fmt(m(pt['fwd_loss_pct']), 1)} %, "
                         f"e2e {fmt(m(pt['e2e_loss_pct']), 1)} %)")
        c.append(f"| {p.name} | " + " | ".join(cells) + " |")
    curve = "\n".join(c)

    b = ["| path | 1400 B Gbit/s | fwd CPU % | CPU % per Gbit/s | fwd loss % | "
         "USO Gbit/s | fwd CPU % | CPU % per Gbit/s | fwd loss % |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in paths:
        e = summary[p.name]
        if not e["rounds_ok"]:
            continue
        b.append(f"| {p.name} | " + " | ".join(
            [fmt_range(e["bulk_gbps"]), fmt(m(e["bulk_cpu_pct"]), 0),
             fmt(m(e["bulk_cpu_per_gbps"]), 1), fmt(m(e["bulk_fwd_loss_pct"]), 1),
             fmt_range(e["uso_gbps"]), fmt(m(e["uso_cpu_pct"]), 0),
             fmt(m(e["uso_cpu_per_gbps"]), 1), fmt(m(e["uso_fwd_loss_pct"]), 1)]) + " |")
    bulk = "\n".join(b)
    return main, curve, bulk


def counters_table(paths, results):
    rows = ["| path | round | fwd read A→B | TUN A tx_packets | TUN A tx_dropped | "
            "fwd writes A→B | fwd dropped A→B | TUN B rx_packets | TUN B rx_dropped |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in paths:
        for r in results:
            c = r.get("forwarder_counters")
            if r["path"] != p.name or not c:
                continue
            rows.append(f"| {p.name} | {r['round']} | {c.get('fwd_read', '?')} | "
                        f"{c['tun_a_tx_packets']} | {c['tun_a_tx_dropped']} | "
                        f"{c.get('fwd_writes', '?')} | {c.get('fwd_dropped', '?')} | "
                        f"{c['tun_b_rx_packets']} | "
                        f"{c['tun_b_rx_dropped']} |")
    return "\n".join(rows)


def plot(paths, summary, rates, out, title):
    """loss.png: forwarded packets/s and loss at the forwarder against the offered rate."""
    dat = os.path.join(out, "loss.dat")
    shown = [p for p in paths if summary[p.name]["rounds_ok"]]
    with open(dat, "w") as f:
        f.write("# per path (one block each): offered_pps sent_pps forwarded_pps fwd_loss_pct "
                "e2e_loss_pct (medians)\n")
        for p in shown:
            f.write(f"# {p.name}\n")
            for pt in summary[p.name]["curve"]:
                f.write(f"{pt['offered_rate']:g} {fmt(m(pt['sent_pps']), 0)} "
                        f"{fmt(m(pt['forwarded_pps']), 0)} {fmt(m(pt['fwd_loss_pct']), 3)} "
                        f"{fmt(m(pt['e2e_loss_pct']), 3)}\n".replace("–", "NaN"))
            f.write("\n\n")
    if not shown or not shutil.which("gnuplot"):
        return None
    png = os.path.join(out, "loss.png")
    xmax = max(rates) / 1e3 * 1.05

    def series(col):
        # A path keeps its colour (and point type) in both panels.
        return ", ".join(f"'{dat}' index {i} using ($2/1000):({col}) with linespoints lw 2 "
                         f"lc {i + 1} pt {i + 4} ps 0.9 title '{p.name}'"
                         for i, p in enumerate(shown))
    script = f"""
set terminal pngcairo size 1400,560 font 'sans,10'
set output '{png}'
set multiplot layout 1,2 title '{title}'
set grid
set key top left
set xrange [0:{xmax}]
set xlabel 'offered: datagrams sent per second (thousands, 64-byte payload)'
set ylabel 'forwarded per second (thousands)'
set yrange [0:{xmax}]
plot x with lines dt 2 lc rgb 'gray' title 'no loss', {series('$3/1000')}
set ylabel 'loss at the forwarder (%)'
set yrange [0:100]
plot {series('$4')}
unset multiplot
"""
    with open(os.path.join(out, "loss.gp"), "w") as f:
        f.write(script)
    try:
        run(["gnuplot", os.path.join(out, "loss.gp")], timeout=30)
    except Failure as e:
        print(f"netns_bench: no plot: {e}", file=sys.stderr)
        return None
    return png


# ---------------------------------------------------------------------------------------------

def parse_rate(s):
    s = s.strip().lower()
    mult = {"k": 1e3, "m": 1e6}.get(s[-1:], 1)
    return float(s[:-1] if s[-1:] in "km" else s) * mult


def clean_stale():
    """Namespaces left by a harness that was killed (its pid is in the name and gone)."""
    out = run(["ip", "netns", "list"], check=False)
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"tkb-(\d+)-\d+-[abf]$", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            run(["ip", "netns", "del", name], check=False)


def git_describe():
    try:
        return run(["git", "-C", REPO, "describe", "--always", "--dirty"], timeout=5).strip()
    except (Failure, OSError):
        return "?"


def cc_pin(args):
    how = f"{args.cc}, pinned per socket (iperf3 -C, checked in its report)"
    if args.cc_in_netns:
        return how + " and as the default of namespaces A and B"
    return (how + f"; not as the namespaces' default: the host's "
            f"net.ipv4.tcp_allowed_congestion_control ({' '.join(args.allowed_cc)}) does not "
            f"list it, and this harness leaves the host's settings alone")


def header_info(args, paths, rates):
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    # Page-table isolation (a Meltdown mitigation) makes every syscall and interrupt dearer: the
    # per-packet paths feel it, the veth pair much less. Worth knowing beside the figures.
    try:
        with open("/sys/devices/system/cpu/vulnerabilities/meltdown") as f:
            meltdown = f.read().strip()
    except OSError:
        meltdown = "?"
    return {
        "meltdown": meltdown,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "kernel": os.uname().release, "cpus": os.cpu_count(), "cpu_model": model,
        "git": git_describe(), "cc": args.cc, "cc_pin": cc_pin(args), "rounds": args.rounds,
        "rates": rates,
        "rate_seconds": args.rate_seconds, "tcp_seconds": args.tcp_seconds,
        "bulk_seconds": args.bulk_seconds, "uso_segments": USO_SEGMENTS, "receiver_gro": args.gro,
        "queues": args.queues,
        "paths": {p.name: {"label": p.label, "cmd": shlex.join(p.cmd) if p.cmd else None,
                           "vnet": p.vnet, "ref": p.ref} for p in paths},
    }


def parse_args(argv):
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    else:
        cmd = []
    ap = argparse.ArgumentParser(
        prog="netns_bench.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] [-- CMD ARGS...]", description=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--paths", help="comma-separated subset of the paths")
    ap.add_argument("--rates", default=DEFAULT_RATES,
                    help=f"offered rates of the 64-byte loss curve, packets/s "
                         f"(default {DEFAULT_RATES})")
    ap.add_argument("--rate-seconds", type=float, default=2.0, help="seconds per rate (default 2)")
    ap.add_argument("--tcp-seconds", type=int, default=4, help="iperf3 seconds (default 4)")
    ap.add_argument("--bulk-seconds", type=float, default=2.0,
                    help="seconds of each 1400-byte UDP load (default 2)")
    ap.add_argument("--phases", default="tcp,curve,bulk,uso",
                    help="which loads, comma-separated: tcp, curve (the 64-byte loss curve), bulk "
                         "(1400-byte UDP), uso (1400-byte UDP with UDP_SEGMENT); default all")
    ap.add_argument("--report", metavar="DIR",
                    help="measure nothing: print the tables and draw the plot again from "
                         "DIR/results.json")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: 1 round, rates {QUICK_RATES}, 1 s each, TCP 2 s")
    ap.add_argument("--out", help="results directory (default build-bench/bench-results/DATE)")
    ap.add_argument("--cc", default="cubic",
                    help="TCP congestion control in A and B (default cubic)")
    ap.add_argument("--loop", action="store_true",
                    help="also the tunkit forwarder's --backend loop variants (the default "
                    "backend is io_uring where available)")
    ap.add_argument("--vnet", action="store_true",
                    help="the command needs vnet_hdr devices (it sets IFF_VNET_HDR and offloads); "
                         "it is then compared with ref-vnet")
    ap.add_argument("--queues", type=int, default=1,
                    help="multi_queue devices with N queues each; ref and tunkit get --queues N, "
                         "a command must attach N queues itself (default 1)")
    ap.add_argument("--name", default="cmd", help="the command's path name (default cmd)")
    ap.add_argument("--gro", action="store_true", help="UDP_GRO on the receiving socket")
    ap.add_argument("--build", default=os.path.join(REPO, "build-bench"),
                    help="the tree with examples/forwarder and bench/ (default build-bench)")
    ap.add_argument("--attach-timeout", type=float, default=10.0,
                    help="seconds to wait for the forwarder to attach (default 10)")
    args = ap.parse_args(argv)
    args.cmd = cmd
    if args.quick:
        args.rounds = 1
        if args.rates == DEFAULT_RATES:
            args.rates = QUICK_RATES
        args.rate_seconds, args.tcp_seconds, args.bulk_seconds = 1.0, 2, 1.0
    args.phases = set(x.strip() for x in args.phases.split(",") if x.strip())
    if not args.phases or not args.phases <= {"tcp", "curve", "bulk", "uso"}:
        ap.error("--phases: a comma-separated subset of tcp,curve,bulk,uso")
    if args.rounds < 1 or args.queues < 1:
        ap.error("--rounds and --queues must be at least 1")
    if args.cmd and args.cmd[0] and os.path.sep in args.cmd[0]:
        args.cmd[0] = os.path.abspath(args.cmd[0])
    args.build = os.path.abspath(args.build)
    args.udp_load = os.path.join(args.build, "bench", "tunkit_udp_load")
    return args


def preflight(args):
    if os.geteuid() != 0:
        sys.exit("netns_bench: needs root: it creates network namespaces and TUN devices "
                 "(sudo ./dev bench, or sudo bench/netns_bench.py)")
    missing = [t for t in ("ip", "iperf3", "ping", "nstat", "ss", "sysctl") if not shutil.which(t)]
    if missing:
        sys.exit(f"netns_bench: missing {', '.join(missing)} (Debian: apt-get install iproute2 "
                 f"iperf3 iputils-ping procps)")
    if not os.path.isfile(args.udp_load):
        sys.exit(f"netns_bench: {args.udp_load} not found: cmake --preset bench -B build-bench && "
                 f"cmake --build build-bench --target tunkit_udp_load tunkit_ref_forwarder "
                 f"forwarder")
    def sysctl(name):
        with open(f"/proc/sys/net/ipv4/{name}") as f:
            return f.read().split()
    available = sysctl("tcp_available_congestion_control")
    if args.cc not in available:
        run(["modprobe", f"tcp_{args.cc}"], check=False)
        if args.cc not in sysctl("tcp_available_congestion_control"):
            sys.exit(f"netns_bench: congestion control {args.cc} not available "
                     f"(have: {' '.join(available)})")
    args.allowed_cc = sysctl("tcp_allowed_congestion_control")
    args.cc_in_netns = args.cc in args.allowed_cc


def main(argv):
    args = parse_args(argv)
    if args.report:
        return rerender(os.path.abspath(args.report))
    preflight(args)
    paths = make_paths(args)
    rates = [parse_rate(r) for r in args.rates.split(",") if r.strip()]
    out = os.path.abspath(args.out or os.path.join(
        args.build, "bench-results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    clean_stale()
    info = header_info(args, paths, rates)
    # Seconds per measurement, roughly: the loads, and about 3 s of setting up and waiting.
    per = (args.tcp_seconds + len(rates) * (args.rate_seconds + 0.6)
           + 2 * (args.bulk_seconds + 0.6) + 4)
    print(f"== netns_bench: {len(paths)} paths x {args.rounds} rounds, about "
          f"{per * len(paths) * args.rounds / 60:.0f} min; results in {out}")
    print(f"   kernel {info['kernel']}, {info['cpus']} CPUs ({info['cpu_model']}), tunkit "
          f"{info['git']}")
    print(f"   TCP congestion control: {info['cc_pin']}")
    for p in paths:
        print(f"   {p.name:22} {shlex.join(p.cmd) + ' A B' if p.cmd else '(veth pair)'}"
              f"{' [vnet_hdr devices]' if p.vnet else ''}")
    sys.stdout.flush()

    results = []
    seq = 0
    for rnd in range(args.rounds):
        for p in paths:
            seq += 1
            r = measure(p, rnd, seq, args, rates, out)
            results.append(r)
            if r["ok"]:
                parts = []
                if "tcp" in r:
                    cpu = r["tcp"].get("cpu_pct")
                    parts.append(f"TCP {r['tcp']['gbps']:6.2f} Gbit/s"
                                 f"{'' if cpu is None else f' (fwd CPU {cpu:3.0f} %)'}")
                if "curve" in r:
                    parts.append(f"UDP64 {r['udp64_pps_at_goal'] / 1e3:5.0f} k/s at <= 1 % loss")
                for k, label in (("bulk", "1400 B"), ("uso", "USO")):
                    if k in r:
                        parts.append(f"{label} {r[k]['gbps']:5.2f} Gbit/s")
                print(f"-- round {rnd + 1}/{args.rounds} {p.name:22} {', '.join(parts)} "
                      f"[{r['seconds']:.0f} s]")
            else:
                print(f"-- round {rnd + 1}/{args.rounds} {p.name:22} FAILED: {r['error']}")
                print(f"   (log: {os.path.join(out, r['log'])})")
            sys.stdout.flush()

    return render(out, info, paths, results, rates)


def phase_values(results, key):
    """key of every phase of every measurement (TCP, each rate of the curve, bulk, USO)."""
    v = []
    for r in results:
        for ph in [r.get("tcp"), r.get("bulk"), r.get("uso")] + r.get("curve", []):
            if ph and ph.get(key) is not None:
                v.append(ph[key])
    return v


def render(out, info, paths, results, rates):
    """The summary, the tables, the plot, table.md and results.json from the measurements."""
    summary = summarize(paths, results, rates)
    main_t, curve_t, bulk_t = tables(paths, summary, rates, info)
    counters_t = counters_table(paths, results)
    title = (f"{info['date'][:10]}, Linux {info['kernel']}, {info['cpus']} CPUs, "
             f"{info['rounds']} round(s), medians")
    ran = set(k for r in results for k in ("tcp", "curve", "bulk", "uso") if k in r)
    png = plot(paths, summary, rates, out, title) if "curve" in ran else None
    nice = med(phase_values(results, "machine_nice_pct"))
    background = (f"Other (niced) processes on the machine during the loads: median "
                  f"{nice['median']:.0f} % of one CPU (max {nice['max']:.0f} %)." if nice else "")
    text = f"""## {title}

- tunkit {info['git']}; {info['cpu_model']}; Meltdown: {info.get('meltdown', '?')}.
- TCP congestion control: {info['cc_pin']}.
- iperf3 {info['tcp_seconds']} s; loss curve {info['rate_seconds']:g} s per rate; UDP bulk
  {info['bulk_seconds']:g} s each (USO: {info['uso_segments']} datagrams per send).
{'- ' + background if background else ''}
- Medians over rounds (min–max in brackets); × ref against the reference of the same kind
  (column vs); UDP 64 B: forwarded packets/s at the highest offered rate that lost at most
  {LOSS_GOAL:g} % at the forwarder.

{main_t}
"""
    if "curve" in ran:
        text += f"""
Loss curve (64-byte datagrams), per offered rate: sent → forwarded, thousands per second (loss at
the forwarder, end to end):

{curve_t}
"""
    if ran & {"bulk", "uso"}:
        text += f"""
UDP bulk (1400-byte datagrams as fast as the sender goes):

{bulk_t}
"""
    text += f"""
The forwarder's own counts at SIGTERM beside the TUN counters over its whole run:

{counters_t}
"""
    failures = [r for r in results if not r["ok"]]
    if failures:
        text += "\nFailed measurements:\n\n" + "".join(
            f"- round {r['round']} {r['path']}: {r['error'].splitlines()[0]}\n" for r in failures)
    print()
    print(text)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"info": info, "summary": summary, "measurements": results}, f, indent=1)
    print(f"results: {out}/results.json, table.md{', loss.png' if png else ''}, runs/")
    return 1 if failures else 0


def rerender(out):
    """--report DIR: the tables and the plot again from DIR/results.json (no measuring)."""
    with open(os.path.join(out, "results.json")) as f:
        d = json.load(f)
    info = d["info"]
    paths = [Path(name, p["label"], shlex.split(p["cmd"]) if p["cmd"] else None, p["vnet"],
                  p["ref"]) for name, p in info["paths"].items()]
    return render(out, info, paths, d["measurements"], info["rates"])


def _terminate(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    # SIGINT too, explicitly: a harness started in the background by a shell inherits SIGINT
    # ignored, and Python then leaves it so.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    status = 130
    try:
        status = main(sys.argv[1:])
    except KeyboardInterrupt:
        print("\nnetns_bench: interrupted; cleaning up", file=sys.stderr)
    finally:
        for t in list(LIVE):
            t.teardown()
    sys.exit(status)
