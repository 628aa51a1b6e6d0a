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
    # packet or frame to answer...
    for name in ("icmp4_echo", "icmp6_echo"):
        write("builder", name, b"\x08" + p[name])
    for name in ("echo4_frame", "echo6_vlan_frame", "arp_request", "ns", "dad"):
        write("builder", name, b"\x08" + f[name])
    write("builder", "ns_small_buffer", b"\x03" + f["ns"])
    # ... and requests the request builders rebuild from their fields.
    write("builder", "udp4_request", b"\x08" + p["udp4"])
    write("builder", "tcp4_syn_small_buffer", b"\x03" + p["tcp4_syn"])
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
    # coalesce: a control byte (1: verify checksums; 8: 12-byte big-endian headers), then packets
    # with 2-byte little-endian lengths: segments of one flow, mixed flows, UDP trains.
    for name, data in batches().items():
        write("coalesce", name, data)
    # vnet: a control byte (bits 0-1: header size 10/12/20/6, bit 2: big-endian), the header,
    # the packet: the offload seeds' headers over their packets, and the 12-byte form.
    for name, data in supers().items():
        write("vnet", name, b"\x00" + data[1:])
    write("vnet", "mrg_rxbuf_be", b"\x05" + struct.pack(">BBHHHHH", 1, 1, 52, 100, 20, 16, 1) +
          p["tcp4_psh"])
    write("vnet", "csum_udp4", b"\x00" + vnet(1, 0, 0, 0, 20, 6) + p["udp4"])
    # netlink: an operation byte, a flags byte (0: ids matched to the request), then datagrams
    # with 2-byte little-endian lengths, as the kernel answers each request of the operation.
    for name, data in netlink().items():
        write("netlink", name, data)


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


def length_prefixed(items):
    return b"".join(struct.pack("<H", len(x)) + x for x in items)


def batches():
    out = {}
    rng = random.Random(9)
    data = bytes(rng.randrange(256) for _ in range(4000))
    for name, src, dst in (("4", "10.0.0.1", "10.0.0.2"), ("6", "fd00::1", "fd00::2")):
        def ip(proto, payload, ident, s=src, d=dst):
            if ":" in s:
                return ipv6(s, d, proto, payload)
            return ipv4(s, d, proto, payload, flags=0x4000, ident=ident)
        segs = [ip(6, tcp(src, dst, 40000, 443, 1000 + 500 * i, 7, 0x10, data[500 * i:500 * (i + 1)]),
                   10 + i) for i in range(4)]
        segs.append(ip(6, tcp(src, dst, 40000, 443, 3000, 7, 0x18, data[2000:2100]), 14))
        out["tcp" + name] = b"\x01" + length_prefixed(segs)
        other = ip(6, tcp(src, dst, 40001, 443, 1, 7, 0x10, data[:500]), 50)
        out["tcp" + name + "_two_flows"] = b"\x09" + length_prefixed(
            [segs[0], other, segs[1], segs[2]])
        dgrams = [ip(17, udp(src, dst, 4000, 4433, data[300 * i:300 * (i + 1)]), 20 + i)
                  for i in range(3)]
        dgrams.append(ip(17, udp(src, dst, 4000, 4433, data[:120]), 23))
        out["udp" + name] = b"\x01" + length_prefixed(dgrams)
    # UDP as an unconnected Linux socket sends it: DF and IP id 0 on every datagram (they merge),
    # and the same without DF (they do not).
    for name, flags in (("udp4_fixed_id", 0x4000), ("udp4_fixed_id_no_df", 0)):
        fixed = [ipv4("10.0.0.1", "10.0.0.2", 17,
                      udp("10.0.0.1", "10.0.0.2", 4000, 4433, data[300 * i:300 * i + n]),
                      flags=flags, ident=0) for i, n in enumerate((300, 300, 300, 120))]
        out[name] = b"\x01" + length_prefixed(fixed)
    out["unverified"] = b"\x00" + length_prefixed([out["tcp4"][1:][2:]])
    return out


NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE = 16, 17, 20, 21, 24


def nlattr(typ, value):
    a = struct.pack("<HH", 4 + len(value), typ) + value
    return a + b"\0" * (-len(a) % 4)


def nlmsg(typ, body, flags=0):
    return struct.pack("<IHHII", 16 + len(body), typ, flags, 0, 0) + body


def ack(error=0):
    return nlmsg(NLMSG_ERROR, struct.pack("<i", error) + struct.pack("<IHHII", 32, 18, 5, 0, 0))


def done():
    return nlmsg(NLMSG_DONE, struct.pack("<i", 0), flags=2)


def link(ifindex, name, tun=True, stats=False, typ=RTM_NEWLINK):
    body = struct.pack("<BxHiII", 0, 65534 if tun else 772, ifindex, 0x1043, 0)
    body += nlattr(3, name.encode() + b"\0") + nlattr(4, struct.pack("<I", 1500))
    body += nlattr(13, struct.pack("<I", 500))
    body += nlattr(50, struct.pack("<I", 68)) + nlattr(51, struct.pack("<I", 65535))
    if tun:
        data = (nlattr(1, struct.pack("<I", 0)) + nlattr(3, b"\x01") + nlattr(4, b"\x00") +
                nlattr(5, b"\x01") + nlattr(6, b"\x01") + nlattr(7, b"\x01") +
                nlattr(8, struct.pack("<I", 4)) + nlattr(9, struct.pack("<I", 0)))
        body += nlattr(18 | 0x8000, nlattr(1, b"tun\0") + nlattr(2 | 0x8000, data))
    else:
        body += nlattr(1, bytes(6))
    if stats:
        body += nlattr(23, struct.pack("<24Q", *range(1, 25)))
    return nlmsg(typ, body)


def address(ifindex, family, prefix, addr, typ=RTM_NEWADDR):
    body = struct.pack("<BBBBI", family, prefix, 0x80, 0, ifindex)
    body += nlattr(1, addr) + nlattr(2, addr) + nlattr(8, struct.pack("<I", 0x80))
    return nlmsg(typ, body)


def route(ifindex):
    body = struct.pack("<BBBBBBBBI", 2, 24, 0, 0, 254, 4, 0, 1, 0)
    body += nlattr(15, struct.pack("<I", 254)) + nlattr(1, a4("10.9.0.0"))
    body += nlattr(4, struct.pack("<I", ifindex)) + nlattr(5, a4("10.8.0.1"))
    body += nlattr(6, struct.pack("<I", 100))
    return nlmsg(RTM_NEWROUTE, body)


def genl(family, cmd, attrs):
    return nlmsg(family, struct.pack("<BBH", cmd, 1, 0) + attrs)


ETHTOOL_FAMILY = 0x15


def ethtool_header(ifindex, name):
    return nlattr(1 | 0x8000, nlattr(1, struct.pack("<I", ifindex)) + nlattr(2, name + b"\0"))


def bitset_verbose(bits, listed=None):
    """bits: the set names; listed: every name, each with VALUE when set (else a NOMASK list)."""
    out = b"" if listed is not None else nlattr(1, b"")
    names = listed if listed is not None else bits
    out += nlattr(2, struct.pack("<I", len(names)))
    entries = b""
    for i, n in enumerate(names):
        bit = nlattr(1, struct.pack("<I", i)) + nlattr(2, n.encode() + b"\0")
        if listed is not None and n in bits:
            bit += nlattr(3, b"")
        entries += nlattr(1 | 0x8000, bit)
    return out + nlattr(3 | 0x8000, entries)


def ethtool():
    family = genl(0x10, 1, nlattr(2, b"ethtool\0") + nlattr(1, struct.pack("<H", ETHTOOL_FAMILY)))
    hdr = ethtool_header(1, b"tk0")
    linkmodes = genl(ETHTOOL_FAMILY, 4, hdr + nlattr(2, b"\x00") + nlattr(5, struct.pack("<I", 10000)) +
                     nlattr(6, b"\x01"))
    debug = genl(ETHTOOL_FAMILY, 7, hdr + nlattr(2 | 0x8000, nlattr(1, b"") + nlattr(2, struct.pack("<I", 15)) +
                                                  nlattr(4, struct.pack("<I", 5))))
    coalesce = genl(ETHTOOL_FAMILY, 20, hdr + nlattr(3, struct.pack("<I", 16)))
    names = ["tx-scatter-gather", "tx-checksum-ip-generic", "rx-gro", "tx-udp-segmentation", "rx-checksum"]
    features = genl(ETHTOOL_FAMILY, 11, hdr +
                    nlattr(2 | 0x8000, bitset_verbose(set(names[:4]), names)) +
                    nlattr(3 | 0x8000, bitset_verbose(["tx-scatter-gather", "rx-gro", "tx-udp-segmentation"])) +
                    nlattr(4 | 0x8000, bitset_verbose(["tx-scatter-gather", "rx-gro"])) +
                    nlattr(5 | 0x8000, bitset_verbose([])))
    return [family + ack(), linkmodes + ack(), debug + ack(), coalesce + ack(), features + ack()]


def netlink():
    tun = link(1, "tk0")
    xdp_attrs = nlattr(43 | 0x8000, nlattr(2, b"\x02") + nlattr(4, struct.pack("<I", 42)) +
                       nlattr(6, struct.pack("<I", 42)))
    xdp = nlmsg(RTM_NEWLINK, link(1, "tk0")[16:] + xdp_attrs)
    a4msg = address(1, 2, 24, a4("10.8.0.2"))
    a6msg = address(1, 10, 64, a6("fd00::2"))
    return {
        "state": b"\x00\x00" + length_prefixed([tun + ack(), tun + ack()]),
        "state_enodev": b"\x00\x00" + length_prefixed([ack(-19)]),
        "addresses": b"\x01\x00" + length_prefixed([tun + ack(), a4msg + a6msg, done()]),
        "address_details": b"\x02\x00" + length_prefixed([tun + ack(), a4msg + a6msg + done()]),
        "routes": b"\x03\x00" + length_prefixed([tun + ack(), route(1) + route(1) + done()]),
        "statistics": b"\x04\x00" + length_prefixed(
            [tun + ack(), link(1, "tk0", stats=True) + ack(), tun + ack()]),
        "list": b"\x05\x00" + length_prefixed(
            [link(1, "tk0") + link(2, "tap0") + link(3, "eth0", tun=False), done()]),
        # A message length of 2^31 or more, which libmnl's mnl_nlmsg_ok() lets through.
        "regress_length_2g": b"\x06\x00" + length_prefixed(
            [tun + struct.pack("<IHHII", 0x98000000, RTM_NEWLINK, 0, 0, 0) + bytes(16)]),
        "xdp": b"\x07\x00" + length_prefixed([tun + ack(), xdp + ack()]),
        "ethtool": b"\x08\x00" + length_prefixed(ethtool()),
        "events": b"\x06\x00" + length_prefixed(
            [tun, link(1, "tk0", typ=RTM_DELLINK), a4msg,
             address(1, 2, 24, a4("10.8.0.2"), typ=RTM_DELADDR)]),
    }


if __name__ == "__main__":
    main()
