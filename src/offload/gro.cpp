#include "tunkit/offload/gro.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <type_traits>

#include "offload/gro_rules.hpp"
#include "offload/vnet_internal.hpp"
#include "packet/checksum_kernels.hpp"
#include "tunkit/error.hpp"

// GRO coalesce in three steps: classify each packet of the batch (its flow and whether it may
// merge), group the packets into writes (a flow table finds each flow's latest write), and build
// the writes in the arena (runs of members whose checksums verify become super-packets).

namespace tunkit {

namespace {

using detail::GroGroup;
using detail::GroItem;
using detail::GroKind;
using detail::GroSlot;
using detail::kNone;
using detail::kTcp;
using detail::kTcpChecksumOffset;
using detail::kTcpEndFlags;
using detail::kUdp;
using detail::kUdpChecksumOffset;
using detail::load16;
using detail::load32;
using detail::load8;
using detail::offload_error;
using detail::store16;
using detail::store8;
using detail::gro::can_append;
using detail::gro::classify_one;
using detail::gro::ends_group;
using detail::gro::same_flow;
using detail::gro::tcp_flags;

// ---------------------------------------------------------------------------------------------
// Step 2 (step 1, classifying each packet, is in gro_rules.hpp): group

// Sorts the packets of a batch into groups (the writes to be), reading headers only. A flow's
// latest group is found through the table; a packet of the flow that cannot join it closes it,
// so that no later packet of the flow overtakes this one.
class Grouper {
 public:
  Grouper(std::span<const PacketParts> packets, std::span<GroItem> items,
          std::span<GroGroup> groups, std::span<GroSlot> table, std::uint32_t generation,
          const CoalescerOptions& options) noexcept
      : packets_(packets),
        items_(items),
        groups_(groups),
        table_(table),
        generation_(generation),
        options_(options) {}

  // Groups every packet; returns the number of groups.
  std::uint32_t group_all() noexcept {
    for (std::uint32_t i = 0; i < packets_.size(); ++i) {
      GroItem& it = items_[i];
      const PacketParts& p = packets_[i];
      it = classify_one(p.head.data(), p.head.size(), p.size(), options_);
      GroSlot* slot = it.kind == GroKind::other ? nullptr : &flow_slot(it, p.head.data());
      if (slot != nullptr && slot->group != kNone && join(groups_[slot->group], slot->group, i)) {
        continue;
      }
      start_group(i, slot);
    }
    return group_count_;
  }

 private:
  // The table slot of the flow of `it`: the slot holding the flow's latest group, or an empty
  // slot claimed for it (open addressing, linear probing; the table has room for twice the
  // largest batch, so there always is one).
  GroSlot& flow_slot(const GroItem& it, const std::byte* pb) noexcept {
    const std::size_t mask = table_.size() - 1;
    for (std::size_t s = it.hash & mask;; s = (s + 1) & mask) {
      GroSlot& candidate = table_[s];
      if (candidate.generation != generation_) {
        candidate = {generation_, it.hash, kNone};
        return candidate;
      }
      if (candidate.hash == it.hash) {
        const std::uint32_t f = groups_[candidate.group].first;
        if (same_flow(items_[f], packets_[f].head.data(), it, pb)) return candidate;
      }
    }
  }

  // Appends packet `i` to group `g` (number `gi`) if it may join; else closes the group.
  bool join(GroGroup& g, std::uint32_t gi, std::uint32_t i) noexcept {
    GroItem& it = items_[i];
    const std::byte* pb = packets_[i].head.data();
    if (!can_append(g, items_[g.first], packets_[g.first].head.data(), packets_[g.last].head.data(),
                    it, pb)) {
      g.closed = true;
      return false;
    }
    // The second packet decides whether an IPv4 UDP flow keeps one id (ipv4_id_fits).
    if (g.count == 1 && it.kind == GroKind::udp && load8(pb) >> 4 == 4) {
      g.fixed_id = load16(pb + 4) == load16(packets_[g.first].head.data() + 4);
    }
    items_[g.last].next = i;
    it.group = gi;
    g.last = i;
    ++g.count;
    g.length += it.payload;
    if (it.kind == GroKind::tcp) g.next_seq += it.payload;
    g.closed = ends_group(it, pb, g.gso_size);
    return true;
  }

  // Starts a new group with packet `i`, as the latest of its flow when it has one.
  void start_group(std::uint32_t i, GroSlot* slot) noexcept {
    GroItem& it = items_[i];
    const std::byte* pb = packets_[i].head.data();
    GroGroup& g = groups_[group_count_];
    g.first = g.last = i;
    g.count = 1;
    g.length = static_cast<std::uint32_t>(packets_[i].size());
    g.gso_size = it.payload;
    g.fixed_id = false;
    g.next_seq =
        it.kind == GroKind::tcp ? load32(pb + it.ip_len + 4) + std::uint32_t{it.payload} : 0;
    g.closed = it.kind == GroKind::other || ends_group(it, pb, it.payload);
    it.group = group_count_;
    if (slot != nullptr) slot->group = group_count_;
    ++group_count_;
  }

  std::span<const PacketParts> packets_;
  std::span<GroItem> items_;
  std::span<GroGroup> groups_;
  std::span<GroSlot> table_;
  std::uint32_t generation_;
  const CoalescerOptions& options_;
  std::uint32_t group_count_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Step 3: write

// The sum of the bytes of `b` as they stand after `a_len` other bytes summing to `a`: a part
// starting at an odd offset pairs its bytes the other way round (RFC 1071: byte order
// independence), so its sum is swapped before it is added.
std::uint16_t join_sums(std::uint16_t a, std::size_t a_len, std::uint16_t b) noexcept {
  if ((a_len & 1U) != 0) b = static_cast<std::uint16_t>((b << 8U) | (b >> 8U));
  std::uint32_t s = std::uint32_t{a} + b;
  s = (s & 0xFFFFU) + (s >> 16U);
  return static_cast<std::uint16_t>(s);
}

// Where the writes of a batch go: whole, copied into an arena (`Copy`), or as pieces for a
// gather write, the payloads left where they are (`Gather`).
enum class Output : std::uint8_t { copy, gather };

// Builds the writes of a batch, in the order of their groups: a group of one packet passes
// through; the members of a larger group are merged in runs, a member whose checksum does not
// verify leaving alone, unchanged, between two runs. The arena holds whole writes (copy) or
// their virtio-net headers and merged headers (gather).
template <Output Mode>
class Writer {
  static constexpr bool kGather = Mode == Output::gather;
  using Result = std::conditional_t<kGather, GatheredPacket, CoalescedPacket>;

 public:
  Writer(std::span<const PacketParts> packets, std::span<const GroItem> items,
         std::span<std::byte> arena, std::span<std::span<const std::byte>> pieces,
         std::span<Result> out, const CoalescerOptions& options) noexcept
      : packets_(packets),
        items_(items),
        arena_(arena),
        pieces_(pieces),
        out_(out),
        options_(options) {}

  // Writes group `g`.
  void write(const GroGroup& g) noexcept {
    if (g.count == 1) {
      pass_through(g.first);
    } else {
      write_runs(g);
    }
  }

  // The writes made so far.
  [[nodiscard]] std::size_t count() const noexcept { return count_; }

 private:
  // What every member of the group being merged shares.
  struct Flow {
    std::size_t ip_len = 0;   // 20 or 40: merged packets have no IPv4 options, no extensions
    std::size_t headers = 0;  // IP and transport header bytes
    bool tcp = false;
    bool v4 = false;
    Checksum pseudo;  // addresses and protocol (with verify_checksums)
  };

  // Consecutive members of a group merged into one write.
  struct Run {
    std::uint32_t first = kNone;
    std::uint32_t last = kNone;
    std::uint32_t count = 0;
    std::size_t at = 0;     // arena offset of its write (the virtio-net header first)
    std::size_t len = 0;    // IP length so far
    std::size_t piece = 0;  // gather: its first piece
  };

  // Adds a piece to the write being built, joined to the previous one when it follows it in
  // memory (the segments of one split super-packet do).
  void add_piece(std::span<const std::byte> p) noexcept {
    if (p.empty()) return;
    if (piece_count_ > piece_mark_) {
      std::span<const std::byte>& last = pieces_[piece_count_ - 1];
      if (last.data() + last.size() == p.data()) {
        last = std::span<const std::byte>(last.data(), last.size() + p.size());
        return;
      }
    }
    pieces_[piece_count_++] = p;
  }

  // Records the write at arena offset `at`: the virtio-net header and `len` bytes of packet
  // (copy), or the pieces since `piece` (gather).
  void emit(std::size_t at, std::size_t len, const VirtioNetHeader& header, std::uint32_t first,
            std::uint32_t members, std::size_t piece) noexcept {
    const std::size_t hs = options_.header_size;
    if constexpr (kGather) {
      out_[count_++] = {pieces_.subspan(piece, piece_count_ - piece), hs + len, header, first,
                        members};
      piece_mark_ = piece_count_;
    } else {
      (void)piece;
      const std::byte* p = arena_.data() + at;
      out_[count_++] = {std::span<const std::byte>(p, hs + len),
                        std::span<const std::byte>(p + hs, len), header, first, members};
    }
  }

  // Stores the virtio-net header of a packet written alone at `at`: all zero, or, for a packet
  // with a partial checksum, NEEDS_CSUM with its checksum field (`csum_start` 0: none found).
  VirtioNetHeader single_header(std::byte* at, bool partial, std::size_t csum_start,
                                std::size_t l4_len, bool tcp) const noexcept {
    const std::size_t hs = options_.header_size;
    VirtioNetHeader vh;
    if (!partial || csum_start == 0) {
      std::memset(at, 0, hs);
      return vh;
    }
    vh.needs_csum = true;
    vh.csum_start = static_cast<std::uint16_t>(csum_start);
    vh.csum_offset = static_cast<std::uint16_t>(tcp ? kTcpChecksumOffset : kUdpChecksumOffset);
    vh.hdr_len = static_cast<std::uint16_t>(csum_start + l4_len);
    (void)vh.serialize(std::span<std::byte>(at, hs), hs, options_.little_endian);
    return vh;
  }

  // The virtio-net header of packet `index` written alone (see single_header).
  VirtioNetHeader pass_through_header(std::byte* at, std::uint32_t index) const noexcept {
    const PacketParts& p = packets_[index];
    if (!p.partial_checksum) return single_header(at, false, 0, 0, false);
    const GroItem& it = items_[index];
    if (it.kind != GroKind::other) {
      return single_header(at, true, it.ip_len, it.l4_len, it.kind == GroKind::tcp);
    }
    // Not classified for merging (TCP or UDP merging off, or headers not merged): find the
    // transport header again.
    const auto where = detail::gro::transport_of(p.head.data(), p.head.size());
    if (!where) return single_header(at, false, 0, 0, false);
    return single_header(at, true, where->start, where->length, where->tcp);
  }

  // Packet `index` unchanged, after an all-zero header (NEEDS_CSUM for a partial checksum).
  void pass_through(std::uint32_t index) noexcept {
    const PacketParts& p = packets_[index];
    const std::size_t hs = options_.header_size;
    std::byte* at = arena_.data() + cursor_;
    const VirtioNetHeader vh = pass_through_header(at, index);
    if constexpr (kGather) {
      const std::size_t piece = piece_count_;
      add_piece(std::span<const std::byte>(at, hs));
      add_piece(p.head);
      add_piece(p.tail);
      emit(cursor_, p.size(), vh, index, 1, piece);
      cursor_ += hs;
    } else {
      std::memcpy(at + hs, p.head.data(), p.head.size());
      if (!p.tail.empty()) std::memcpy(at + hs + p.head.size(), p.tail.data(), p.tail.size());
      emit(cursor_, p.size(), vh, index, 1, 0);
      cursor_ += hs + p.size();
    }
  }

  Flow flow_of(const GroGroup& g) const noexcept {
    const GroItem& head = items_[g.first];
    Flow f;
    f.ip_len = head.ip_len;
    f.headers = std::size_t{head.ip_len} + head.l4_len;
    f.tcp = head.kind == GroKind::tcp;
    f.v4 = f.ip_len == 20;
    if (options_.verify_checksums) {
      f.pseudo = detail::address_sum(packets_[g.first].head.data(), f.v4);
      f.pseudo.add_u16(f.tcp ? kTcp : kUdp);
    }
    return f;
  }

  void write_runs(const GroGroup& g) noexcept {
    const Flow flow = flow_of(g);
    Run run;
    for (std::uint32_t m = g.first; m != kNone; m = items_[m].next) {
      if (run.count == 0) start_run(run, flow, m);
      if (kGather && run.count > 0 && !has_room(run, m)) {
        // The write has as many pieces as one gather write takes: the rest starts another.
        finish_run(run, flow);
        start_run(run, flow, m);
      }
      if (!append(run, flow, m)) {
        if (run.count > 0) {
          finish_run(run, flow);
        } else {
          // The run was to start with this packet: drop what was built.
          cursor_ = run.at;
          piece_count_ = run.piece;
        }
        pass_through(m);
      }
    }
    finish_run(run, flow);
  }

  // A run starting with member `m`: its headers stand for the run's.
  void start_run(Run& run, const Flow& flow, std::uint32_t m) noexcept {
    run.at = cursor_;
    run.first = m;
    run.len = flow.headers;
    std::byte* at = arena_.data() + run.at;
    std::memcpy(at + options_.header_size, packets_[m].head.data(), flow.headers);
    if constexpr (kGather) {
      run.piece = piece_count_;
      add_piece(std::span<const std::byte>(at, options_.header_size + flow.headers));
    }
  }

  // Gather: whether member `m`'s payload pieces (those not joined to the one before them) keep
  // the run within `max_gather_pieces`. A member adds two pieces at most: with room for two, the
  // pieces are not looked at (the segments of one split add none).
  bool has_room(const Run& run, std::uint32_t m) const noexcept {
    if (piece_count_ - run.piece + 2 <= Coalescer::max_gather_pieces) return true;
    const PacketParts& p = packets_[m];
    const std::span<const std::byte> rest =
        p.head.subspan(std::size_t{items_[m].ip_len} + items_[m].l4_len);
    const std::span<const std::byte>& last = pieces_[piece_count_ - 1];
    const std::byte* end = last.data() + last.size();
    std::size_t more = 0;
    for (const std::span<const std::byte> part : {rest, p.tail}) {
      if (part.empty()) continue;
      if (part.data() != end) ++more;
      end = part.data() + part.size();
    }
    return piece_count_ - run.piece + more <= Coalescer::max_gather_pieces;
  }

  // Adds the payload of member `m` to the end of the run; false (the run unchanged) when its
  // transport checksum does not verify.
  bool append(Run& run, const Flow& flow, std::uint32_t m) noexcept {
    const GroItem& it = items_[m];
    const PacketParts& p = packets_[m];
    const std::byte* src = p.head.data();
    // The payload: the rest of the head, then the tail.
    const std::span<const std::byte> first = p.head.subspan(flow.headers);
    const std::span<const std::byte> second = p.tail;
    std::byte* dst = arena_.data() + run.at + options_.header_size + run.len;
    std::uint16_t payload_sum = 0;
    // A partial checksum (the pseudo-header sum) has nothing to verify: taken as it is.
    if (options_.verify_checksums && !p.partial_checksum) {
      if constexpr (kGather) {
        payload_sum = detail::ones_sum(first.data(), first.size());
        if (!second.empty()) {
          payload_sum =
              join_sums(payload_sum, first.size(), detail::ones_sum(second.data(), second.size()));
        }
      } else {
        payload_sum = detail::copy_and_sum(dst, first.data(), first.size());
        if (!second.empty()) {
          payload_sum =
              join_sums(payload_sum, first.size(),
                        detail::copy_and_sum(dst + first.size(), second.data(), second.size()));
        }
      }
      Checksum sum = flow.pseudo;
      sum.add_u16(static_cast<std::uint16_t>(it.l4_len + it.payload))
          .add(std::span<const std::byte>(src + flow.ip_len, it.l4_len))
          .add_u16(payload_sum);
      // RFC 768: an IPv4 UDP checksum of zero means none was computed.
      const bool no_checksum =
          !flow.tcp && flow.v4 && load16(src + flow.ip_len + kUdpChecksumOffset) == 0;
      if (!sum.verifies() && !no_checksum) return false;
    } else if constexpr (!kGather) {
      std::memcpy(dst, first.data(), first.size());
      if (!second.empty()) std::memcpy(dst + first.size(), second.data(), second.size());
    }
    if constexpr (kGather) {
      add_piece(first);
      add_piece(second);
    }
    run.len += it.payload;
    run.last = m;
    ++run.count;
    return true;
  }

  // Writes the run: one member passes through (its bytes are exactly the packet's), more become
  // a super-packet.
  void finish_run(Run& run, const Flow& flow) noexcept {
    if (run.count == 0) return;
    if (run.count == 1) {
      const VirtioNetHeader vh =
          single_header(arena_.data() + run.at, packets_[run.first].partial_checksum, flow.ip_len,
                        flow.headers - flow.ip_len, flow.tcp);
      emit(run.at, run.len, vh, run.first, 1, run.piece);
    } else {
      write_super_packet(run, flow);
    }
    cursor_ = run.at + options_.header_size + (kGather ? flow.headers : run.len);
    run.count = 0;
  }

  // Turns the run's headers into those of the super-packet: IP length (and IPv4 checksum),
  // transport length or flags, the partial checksum, and the virtio-net header before it.
  void write_super_packet(const Run& run, const Flow& flow) noexcept {
    const std::size_t hs = options_.header_size;
    std::byte* at = arena_.data() + run.at;
    std::byte* d = at + hs;
    if (flow.v4) {
      store16(d + 2, static_cast<std::uint16_t>(run.len));
      store16(d + 10, 0);
      store16(d + 10, internet_checksum(std::span<const std::byte>(d, 20)));
    } else {
      store16(d + 4, static_cast<std::uint16_t>(run.len - 40));
    }
    const auto l4_length = static_cast<std::uint16_t>(run.len - flow.ip_len);
    // The partial checksum: the pseudo-header sum, not complemented (what the kernel's
    // tcp_v4_send_check and udp4_hwcsum leave for CHECKSUM_PARTIAL).
    Checksum pseudo = detail::address_sum(d, flow.v4);
    pseudo.add_u16(flow.tcp ? kTcp : kUdp).add_u16(l4_length);
    VirtioNetHeader vh;
    vh.needs_csum = true;
    vh.csum_start = static_cast<std::uint16_t>(flow.ip_len);
    vh.hdr_len = static_cast<std::uint16_t>(flow.headers);
    vh.gso_size = items_[run.first].payload;
    std::byte* t = d + flow.ip_len;
    if (flow.tcp) {
      const TcpFlags first = tcp_flags(t);
      const TcpFlags last = tcp_flags(packets_[run.last].head.data() + flow.ip_len);
      store8(t + 13, (first | (last & kTcpEndFlags)).bits());
      store16(t + kTcpChecksumOffset, pseudo.fold());
      vh.gso_type = flow.v4 ? GsoType::tcpv4 : GsoType::tcpv6;
      vh.gso_ecn = first.has(TcpFlag::cwr);
      vh.csum_offset = static_cast<std::uint16_t>(kTcpChecksumOffset);
    } else {
      store16(t + 4, l4_length);
      store16(t + kUdpChecksumOffset, pseudo.fold());
      vh.gso_type = GsoType::udp_l4;
      vh.csum_offset = static_cast<std::uint16_t>(kUdpChecksumOffset);
    }
    (void)vh.serialize(std::span<std::byte>(at, hs), hs, options_.little_endian);
    emit(run.at, run.len, vh, run.first, run.count, run.piece);
  }

  std::span<const PacketParts> packets_;
  std::span<const GroItem> items_;
  std::span<std::byte> arena_;
  std::span<std::span<const std::byte>> pieces_;  // gather only
  std::span<Result> out_;
  const CoalescerOptions& options_;
  std::size_t cursor_ = 0;       // arena bytes used
  std::size_t count_ = 0;        // writes made
  std::size_t piece_count_ = 0;  // gather: pieces used
  std::size_t piece_mark_ = 0;   // gather: the first piece of the write being built
};

// The limits `coalesce` checks before doing anything: `arena_needed` bytes of arena and
// `pieces_needed` pieces.
std::optional<OffloadError> check_batch(std::size_t n, std::size_t capacity,
                                        std::size_t arena_needed, std::size_t arena_size,
                                        std::size_t pieces_needed, std::size_t pieces_size,
                                        std::size_t out_size) noexcept {
  if (n > capacity) return offload_error(OffloadReason::batch_too_large, n, capacity);
  if (out_size < n) return offload_error(OffloadReason::too_many_segments, n, out_size);
  if (pieces_size < pieces_needed) {
    return offload_error(OffloadReason::too_many_segments, pieces_needed, pieces_size);
  }
  if (arena_size < arena_needed) {
    return offload_error(OffloadReason::buffer_too_small, arena_needed, arena_size);
  }
  return std::nullopt;
}

}  // namespace

Coalescer::Coalescer(CoalescerOptions options) : options_(options) {
  // The throwing constructor formats its own hints (from its own arguments).
  if (options_.header_size < VirtioNetHeader::legacy_size) {
    throw make_error(errc::out_of_range, "Coalescer", {},
                     fmt::format("virtio-net header size {} below 10", options_.header_size));
  }
  if (options_.max_batch == 0 || options_.max_batch > (std::size_t{1} << 24)) {
    throw make_error(errc::out_of_range, "Coalescer", {},
                     fmt::format("max_batch {} outside 1..2^24", options_.max_batch));
  }
  items_.resize(options_.max_batch);
  groups_.resize(options_.max_batch);
  table_.resize(std::bit_ceil(2 * options_.max_batch));
  parts_.resize(options_.max_batch);
}

Coalescer::Coalescer(Coalescer&&) noexcept = default;
Coalescer& Coalescer::operator=(Coalescer&&) noexcept = default;
Coalescer::~Coalescer() = default;

std::uint32_t Coalescer::group(std::span<const PacketParts> packets) noexcept {
  // A new generation empties the flow table (all of it again when the counter wraps).
  if (++generation_ == 0) {
    std::fill(table_.begin(), table_.end(), GroSlot{});
    generation_ = 1;
  }
  return Grouper(packets, items_, groups_, table_, generation_, options_).group_all();
}

std::span<const PacketParts> Coalescer::as_parts(
    std::span<const std::span<const std::byte>> packets) noexcept {
  for (std::size_t i = 0; i < packets.size(); ++i)
    parts_[i] = {packets[i], {}};
  return std::span<const PacketParts>(parts_).first(packets.size());
}

OffloadResult<std::size_t> Coalescer::coalesce(std::span<const std::span<const std::byte>> packets,
                                               std::span<std::byte> arena,
                                               std::span<CoalescedPacket> out) noexcept {
  std::size_t input_bytes = 0;
  for (const auto& p : packets)
    input_bytes += p.size();
  const std::size_t n = packets.size();
  if (auto e = check_batch(n, items_.size(), arena_size(input_bytes, n, options_.header_size),
                           arena.size(), 0, 0, out.size())) {
    return *e;
  }
  if (packets.empty()) return std::size_t{0};
  const auto parts = as_parts(packets);
  const std::uint32_t groups = group(parts);
  Writer<Output::copy> writer(parts, items_, arena, {}, out, options_);
  for (std::uint32_t gi = 0; gi < groups; ++gi)
    writer.write(groups_[gi]);
  return writer.count();
}

OffloadResult<std::size_t> Coalescer::coalesce(std::span<const std::span<const std::byte>> packets,
                                               std::span<std::byte> header_arena,
                                               std::span<std::span<const std::byte>> pieces,
                                               std::span<GatheredPacket> out) noexcept {
  if (packets.size() > items_.size()) {
    return offload_error(OffloadReason::batch_too_large, packets.size(), items_.size());
  }
  return coalesce(as_parts(packets), header_arena, pieces, out);
}

OffloadResult<std::size_t> Coalescer::coalesce(std::span<const PacketParts> packets,
                                               std::span<std::byte> header_arena,
                                               std::span<std::span<const std::byte>> pieces,
                                               std::span<GatheredPacket> out) noexcept {
  const std::size_t n = packets.size();
  if (auto e = check_batch(n, items_.size(), gather_arena_size(n, options_.header_size),
                           header_arena.size(), gather_pieces(n), pieces.size(), out.size())) {
    return *e;
  }
  if (packets.empty()) return std::size_t{0};
  const std::uint32_t groups = group(packets);
  Writer<Output::gather> writer(packets, items_, header_arena, pieces, out, options_);
  for (std::uint32_t gi = 0; gi < groups; ++gi)
    writer.write(groups_[gi]);
  return writer.count();
}

}  // namespace tunkit
