#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

Each seed is a small, valid packet or frame (or, for the checksum target, a byte pattern), built
field by field here with correct checksums, so the fuzzers start from inputs that reach deep into
the parsers and builders. Run from anywhere; the output is committed:

    python3 fuzz/make_corpus.py
"""
import ipaddress
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def a4(text):
    return ipaddress.IPv4Address(text).packed


def a6(text):
    return ipaddress.IPv6Address(text).packed


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def with_csum(msg, offset, pseudo=b""):
    c = csum(pseudo + msg)
    return msg[:offset] + struct.pack("!H", c) + msg[offset + 2:]


def ipv4(src, dst, proto, payload, opts=b"", flags=0, ident=1, ttl=64):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, flags, ttl,
                    proto, 0, a4(src), a4(dst)) + opts
    return with_csum(h, 10) + payload


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, hlim, a6(src), a6(dst)) + payload


def pseudo(src, dst, proto, length):
    if ":" in src:
        return a6(src) + a6(dst) + struct.pack("!I3xB", length, proto)
    return a4(src) + a4(dst) + struct.pack("!BBH", 0, proto, length)


def udp(src, dst, sport, dport, data):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return with_csum(u, 6, pseudo(src, dst, 17, len(u)))


def tcp(src, dst, sport, dport, seq, ack, flags, data=b"", opts=b""):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(opts) // 4) << 4, flags, 64240,
                    0, 0) + opts + data
    return with_csum(t, 16, pseudo(src, dst, 6, len(t)))


def icmp4(typ, ident, seq, data):
    return with_csum(struct.pack("!BBHHH", typ, 0, 0, ident, seq) + data, 2)


def icmp6(src, dst, typ, body):
    m = struct.pack("!BBH", typ, 0, 0) + body
    return with_csum(m, 2, pseudo(src, dst, 58, len(m)))


def eth(dst, src, ethertype, payload, vlan=None):
    h = mac(dst) + mac(src)
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", ethertype) + payload


def arp_request(sha, spa, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac(sha) + a4(spa) + bytes(6) + a4(tpa)


def packets():
    p = {}
    p["udp4"] = ipv4("10.0.0.2", "10.0.0.1", 17, udp("10.0.0.2", "10.0.0.1", 5353, 53, b"q" * 30))
    p["tcp4_psh"] = ipv4("10.0.0.1", "10.0.0.2", 6,
                         tcp("10.0.0.1", "10.0.0.2", 22, 41000, 1, 5, 0x18, b"a" * 40))
    opts = bytes.fromhex("020405b4" "0402" "080a0000000100000000" "01" "030307")
    p["tcp4_syn"] = ipv4("10.0.0.2", "10.0.0.1", 6,
                         tcp("10.0.0.2", "10.0.0.1", 41000, 22, 1000, 0, 0x02, opts=opts))
    echo4 = ipv4("10.0.0.1", "10.0.0.2", 1, icmp4(8, 7, 1, bytes(range(24))), flags=0x4000)
    p["icmp4_echo"] = echo4
    echo6_body = struct.pack("!HH", 7, 1) + bytes(range(24))
    echo6 = ipv6("fd00::2", "fd00::1", 58, icmp6("fd00::2", "fd00::1", 128, echo6_body))
    p["icmp6_echo"] = echo6
    p["ipv4_options"] = ipv4("10.0.0.1", "224.0.0.22", 17,
                             udp("10.0.0.1", "224.0.0.22", 1, 2, b"hi"),
                             opts=bytes.fromhex("94040000"), ttl=1)
    inner = udp("fd00::1", "fd00::2", 1234, 5678, b"data")
    pad = bytes.fromhex("010400000000")
    chain = (struct.pack("!BB", 60, 0) + pad + struct.pack("!BB", 44, 0) + pad +
             struct.pack("!BBHI", 43, 0, 0, 0x1234) + struct.pack("!BBBB4x", 51, 0, 4, 0) +
             struct.pack("!BBHII", 17, 4, 0, 0x100, 1) + bytes(12) + inner)
    p["ipv6_ext"] = ipv6("fd00::1", "fd00::2", 0, chain)
    p["ipv6_frag"] = ipv6("fd00::1", "fd00::2", 44, struct.pack("!BBHI", 17, 0, 1232 | 1, 66) +
                          b"x" * 16)
    p["ipv4_frag"] = ipv4("10.0.0.1", "10.0.0.2", 17, b"y" * 24, flags=0x2000 | 185)
    return p


def frames(p):
    f = {}
    f["arp_request"] = eth("ff:ff:ff:ff:ff:ff", "aa:bb:cc:dd:ee:ff", 0x0806,
                           arp_request("aa:bb:cc:dd:ee:ff", "10.0.0.1", "10.0.0.2") + bytes(18))
    ns_body = bytes(4) + a6("fd00::1") + bytes.fromhex("0101020000000002")
    ns = icmp6("fd00::2", "ff02::1:ff00:1", 135, ns_body)
    f["ns"] = eth("33:33:ff:00:00:01", "02:00:00:00:00:02", 0x86DD,
                  ipv6("fd00::2", "ff02::1:ff00:1", 58, ns, hlim=255))
    dad = icmp6("::", "ff02::1:ff00:1", 135, bytes(4) + a6("fd00::1"))
    f["dad"] = eth("33:33:ff:00:00:01", "02:00:00:00:00:03", 0x86DD,
                   ipv6("::", "ff02::1:ff00:1", 58, dad, hlim=255))
    f["echo4_frame"] = eth("11:22:33:44:55:66", "aa:bb:cc:dd:ee:ff", 0x0800, p["icmp4_echo"])
    f["echo6_vlan_frame"] = eth("11:22:33:44:55:66", "aa:bb:cc:dd:ee:ff", 0x86DD, p["icmp6_echo"],
                                vlan=(2 << 13) | 10)
    f["udp4_vlan_frame"] = eth("11:22:33:44:55:66", "aa:bb:cc:dd:ee:ff", 0x0800, p["udp4"],
                               vlan=100)
    return f


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as out:
        out.write(data)


def main():
    p = packets()
    f = frames(p)
    for name, data in {**p, **f}.items():
        write("packet", name, data)
    write("packet", "ipv4_truncated", p["udp4"][:30])
    write("packet", "tcp_bad_offset", p["tcp4_syn"][:32] + b"\x40" + p["tcp4_syn"][33:])
    # builder: a control byte (8: an output buffer big enough; 3: too small at first), then the
    # request.
    for name in ("icmp4_echo", "icmp6_echo"):
        write("builder", name, b"\x08" + p[name])
    for name in ("echo4_frame", "echo6_vlan_frame", "arp_request", "ns", "dad"):
        write("builder", name, b"\x08" + f[name])
    write("builder", "ns_small_buffer", b"\x03" + f["ns"])
    # checksum: byte patterns of even and odd lengths.
    rng = random.Random(1071)
    write("checksum", "odd_7", bytes(rng.randrange(256) for _ in range(7)))
    write("checksum", "random_64", bytes(rng.randrange(256) for _ in range(64)))
    write("checksum", "random_1501", bytes(rng.randrange(256) for _ in range(1501)))
    write("checksum", "ones_100", b"\xff" * 100)
    write("checksum", "ipv4_header", p["udp4"][:20])
    # offload: a control byte (1: verify checksums), a 10-byte little-endian virtio-net header,
    # then a super-packet as the kernel hands it over: lengths of the whole, the pseudo-header
    # sum in the transport checksum field (NEEDS_CSUM).
    for name, data in supers().items():
        write("offload", name, data)


def partial(src, dst, proto, seg, field):
    s = sum(struct.unpack("!%dH" % (len(pseudo(src, dst, proto, len(seg))) // 2),
                          pseudo(src, dst, proto, len(seg))))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return seg[:field] + struct.pack("!H", s) + seg[field + 2:]


def vnet(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def supers():
    rng = random.Random(5)
    data = bytes(rng.randrange(256) for _ in range(700))
    ts = bytes.fromhex("0101080a0001e24000003039")
    out = {}
    for name, src, dst in (("4", "10.0.0.1", "10.0.0.2"), ("6", "fd00::1", "fd00::2")):
        ip = ipv4 if name == "4" else ipv6
        ip_len = 20 if name == "4" else 40
        t = struct.pack("!HHIIBBHHH", 40000, 443, 0xFFFFFF00, 5, 8 << 4, 0x18, 502, 0, 0) + ts
        seg = partial(src, dst, 6, t + data, 16)
        gso = 1 if name == "4" else 4
        out["tcp" + name] = b"\x01" + vnet(1, gso, ip_len + 32, 100, ip_len, 16) + ip(
            src, dst, 6, seg)
        out["tcp" + name + "_cwr_fin"] = b"\x00" + vnet(1, gso | 0x80, ip_len + 32, 333, ip_len,
                                                        16) + ip(
            src, dst, 6, partial(src, dst, 6, t[:13] + b"\x99" + t[14:] + data, 16))
        u = struct.pack("!HHHH", 4000, 4433, 8 + len(data), 0) + data
        out["udp" + name] = b"\x01" + vnet(1, 5, ip_len + 8, 64, ip_len, 6) + ip(
            src, dst, 17, partial(src, dst, 17, u, 6))
        out["none" + name] = b"\x01" + vnet(1, 0, 0, 0, ip_len, 6) + ip(
            src, dst, 17, partial(src, dst, 17, u, 6))
    return out


if __name__ == "__main__":
    main()
