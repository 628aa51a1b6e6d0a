#pragma once
/// @file
/// Offloads for TUN devices opened with IFF_VNET_HDR: the virtio-net header, the `TUNSETOFFLOAD`
/// flags, and the two transformations that let user space move 64 KiB super-packets instead of
/// MTU-sized ones:
///
/// - **GSO split** (read side): the kernel hands over one TCP or UDP super-packet with a header
///   saying how to cut it (`gso_type`, `gso_size`); `gso_split` cuts it into wire-sized packets
///   with their own IP lengths, IPv4 ids, TCP sequence numbers, flags and checksums.
/// - **GRO coalesce** (write side): `Coalescer` merges a batch of packets of the same TCP or UDP
///   flow into super-packets with a header asking the kernel to cut them again, so one `write`
///   carries many packets.
///
/// Everything here is pure computation over caller-provided buffers: no system calls, no
/// allocation after construction, no exceptions on the hot path. The device side (`TUNSETOFFLOAD`,
/// `TUNSETVNETHDRSZ`) belongs to `TunDevice`.
///
/// This umbrella header includes the three parts: tunkit/vnet.hpp (the header, its errors),
/// tunkit/offload/gso.hpp (split, checksum completion) and tunkit/offload/gro.hpp (coalesce);
/// and, as in tunkit 0.1, tunkit/options.hpp (the `TUNSETOFFLOAD` flags, `Offloads`) and
/// tunkit/packet.hpp (the views, to look at what a split gives).
///
/// The conventions of the header fields (offsets, NEEDS_CSUM) are in tunkit/vnet.hpp.

// IWYU pragma: begin_exports
#include "tunkit/offload/gro.hpp"
#include "tunkit/offload/gso.hpp"
#include "tunkit/options.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/vnet.hpp"
// IWYU pragma: end_exports
