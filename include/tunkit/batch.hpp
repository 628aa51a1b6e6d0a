#pragma once
/// @file
/// Batch I/O on a queue: many packets per call into caller-owned buffers.
///
/// `PacketBatch` describes N caller-owned buffers (slots), each with the same headroom left free
/// for the caller and a length per slot. `BatchIo` moves packets between a `Queue` and a batch,
/// with one of two backends:
///
/// - `BatchBackend::loop`: one non-blocking readv/writev per packet, through the queue's syscall
///   seam (so `tunkit::testing::FakeKernel` can script every errno).
/// - `BatchBackend::uring`: io_uring (built when liburing is found, probed at run time) submits a
///   whole batch of reads or writes in one `io_uring_enter`.
///
/// Nothing on the hot path allocates: the iovecs and the ring are set up when `BatchIo` opens.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/export.hpp"
#include "tunkit/queue.hpp"

namespace tunkit {

/// A view of N caller-owned packet buffers ("slots") and the length of the packet in each.
///
/// Slot i is `buffer(i)`; its first `headroom()` bytes are left to the caller (for example to
/// prepend a virtio-net or tunnel header later without copying), and I/O uses `room(i)`, the rest.
/// After `BatchIo::read_batch`, slots `[0, size())` hold packets of `length(i)` bytes at
/// `packet(i)` (with the virtio-net header first on an IFF_VNET_HDR device, as `Queue::read`).
/// For `BatchIo::write_batch`, set the lengths and `set_size` first. The batch does not own the
/// memory: the buffers must outlive it.
class TUNKIT_EXPORT PacketBatch {
 public:
  /// An empty batch (capacity 0).
  PacketBatch() noexcept = default;
  /// Slots over `buffers`, with their lengths in `lengths` (the capacity is the smaller of the two
  /// sizes). No packets yet (`size() == 0`).
  PacketBatch(std::span<const std::span<std::byte>> buffers, std::span<std::size_t> lengths,
              std::size_t headroom = 0) noexcept
      : buffers_(buffers.first(std::min(buffers.size(), lengths.size()))),
        lengths_(lengths.first(buffers_.size())),
        headroom_(headroom) {}

  /// The number of slots.
  [[nodiscard]] std::size_t capacity() const noexcept { return buffers_.size(); }
  /// The number of packets held (slots `[0, size())`).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Whether it holds no packet.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// Sets the number of packets held (clamped to the capacity).
  void set_size(std::size_t n) noexcept { size_ = std::min(n, capacity()); }
  /// `set_size(0)`.
  void clear() noexcept { size_ = 0; }
  /// Bytes left free at the start of every slot.
  [[nodiscard]] std::size_t headroom() const noexcept { return headroom_; }

  /// The whole buffer of slot `i`, headroom included.
  [[nodiscard]] std::span<std::byte> buffer(std::size_t i) const noexcept { return buffers_[i]; }
  /// The part of slot `i` that I/O uses (after the headroom; empty if the slot is smaller).
  [[nodiscard]] std::span<std::byte> room(std::size_t i) const noexcept {
    return buffers_[i].size() > headroom_ ? buffers_[i].subspan(headroom_) : std::span<std::byte>{};
  }
  /// The packet length in slot `i` (settable).
  [[nodiscard]] std::size_t& length(std::size_t i) noexcept { return lengths_[i]; }
  /// The packet length in slot `i`.
  [[nodiscard]] std::size_t length(std::size_t i) const noexcept { return lengths_[i]; }
  /// The packet in slot `i`: `length(i)` bytes after the headroom.
  [[nodiscard]] std::span<std::byte> packet(std::size_t i) const noexcept {
    return room(i).first(std::min(lengths_[i], room(i).size()));
  }
  /// Appends a packet length: slot `size()` now holds `n` bytes. False when the batch is full.
  bool push_back(std::size_t n) noexcept {
    if (size_ == capacity()) return false;
    lengths_[size_++] = n;
    return true;
  }
  /// The slots from `first` on, as a batch of their own holding the packets `[first, size())`:
  /// to write the rest of a batch after a failed packet.
  [[nodiscard]] PacketBatch tail(std::size_t first) const noexcept {
    first = std::min(first, capacity());
    PacketBatch t(buffers_.subspan(first), lengths_.subspan(first), headroom_);
    t.size_ = size_ > first ? size_ - first : 0;
    return t;
  }

 private:
  std::span<const std::span<std::byte>> buffers_;
  std::span<std::size_t> lengths_;
  std::size_t headroom_ = 0;
  std::size_t size_ = 0;
};

/// Owned storage for a `PacketBatch`: `slots` buffers of `slot_size` bytes in one allocation.
/// Allocates once, in the constructor; move-only (moves keep the buffers where they are).
///
/// @code
/// tunkit::PacketBuffers storage(64, 65536 + 10);
/// tunkit::PacketBatch& batch = storage.batch();
/// @endcode
class TUNKIT_EXPORT PacketBuffers {
 public:
  PacketBuffers() = default;
  /// @throws std::bad_alloc.
  PacketBuffers(std::size_t slots, std::size_t slot_size, std::size_t headroom = 0);
  /// Takes over the storage; the batch keeps pointing at it.
  PacketBuffers(PacketBuffers&&) noexcept = default;
  /// Takes over the storage; the batch keeps pointing at it.
  PacketBuffers& operator=(PacketBuffers&&) noexcept = default;
  PacketBuffers(const PacketBuffers&) = delete;
  PacketBuffers& operator=(const PacketBuffers&) = delete;
  ~PacketBuffers() = default;

  /// The batch over these buffers.
  [[nodiscard]] PacketBatch& batch() noexcept { return batch_; }
  /// The batch over these buffers (read-only).
  [[nodiscard]] const PacketBatch& batch() const noexcept { return batch_; }

 private:
  std::vector<std::byte> bytes_;
  std::vector<std::span<std::byte>> spans_;
  std::vector<std::size_t> lengths_;
  PacketBatch batch_;
};

/// How `BatchIo` reaches the kernel.
enum class BatchBackend : std::uint8_t {
  automatic,  ///< io_uring where it can be used (the real kernel, a ring the kernel grants), else
              ///< the loop
  loop,       ///< one non-blocking readv/writev per packet, through the syscall seam
  uring,      ///< io_uring: one io_uring_enter per batch
};

/// "automatic", "loop" or "uring".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(BatchBackend backend) noexcept;

/// Construction-time settings of a `BatchIo`.
struct BatchOptions {
  /// The backend wanted. `uring` needs the real kernel (`sys::real()`), no packet information,
  /// and `BatchIo::uring_available()`; `automatic` takes io_uring where `uring` would work and the
  /// loop elsewhere, without an error. Ask for `loop` under valgrind or strace, which cannot follow
  /// io_uring's reads and writes.
  BatchBackend backend = BatchBackend::automatic;
  /// The most packets one call moves (the ring and the iovecs are sized for it): 1..1024.
  std::size_t max_packets = 64;
};

namespace detail {
class Uring;
}  // namespace detail

/// Moves batches of packets in and out of one `Queue`. The queue must outlive the `BatchIo` and
/// stay where it is (queues of a `TunDevice` do). Not thread-safe: one per thread, as a queue.
///
/// Reads: `read_batch` fills the slots of a `PacketBatch` with as many packets as are queued (up
/// to its capacity and `max_packets`). On a blocking queue it first waits (interruptibly, as
/// `Queue::read`) until at least one packet is there, then takes what is queued without waiting
/// again; on a non-blocking queue it reports `std::errc::operation_would_block` when nothing was.
/// A packet longer than its slot is dropped (counted in `truncated()`); if the call took no
/// other packet it reports `errc::packet_truncated`. Any other error after at least one packet
/// ends the batch early and is reported by the next call (the kernel repeats it); with no
/// packet it is returned.
///
/// Writes: `write_batch` writes packets in order, one packet per write, and stops at the first
/// one that fails: it returns how many were written and sets `ec` to why packet `count` was not
/// (`Queue::write`'s errors: EIO while down, `errc::invalid_vnet_header`, ...). Resume with
/// `batch.tail(count + 1)` to drop it and write the rest.
///
/// @code
/// tunkit::PacketBuffers in(64, 2048);
/// tunkit::BatchIo a_io(a.queue(0)), b_io(b.queue(0));
/// std::error_code ec;
/// if (a_io.read_batch(in.batch(), ec) > 0) (void)b_io.write_batch(in.batch(), ec);
/// @endcode
class TUNKIT_EXPORT BatchIo {
 public:
  /// The largest `BatchOptions::max_packets`.
  static constexpr std::size_t max_packets_limit = 1024;

  /// A closed engine (`is_open() == false`).
  BatchIo() noexcept;
  /// Sets up the backend for `queue`.
  /// @throws tunkit::Error: `errc::feature_unsupported` when `uring` was asked for and is not
  /// available (not built in, refused by the kernel, a fake syscall seam, packet information on),
  /// `std::errc::invalid_argument` for a bad `max_packets`, `errc::not_open` for a closed queue.
  explicit BatchIo(Queue& queue, BatchOptions options = {});
  /// As the constructor; on failure `ec` is set and the object stays closed.
  void open(Queue& queue, BatchOptions options, std::error_code& ec) noexcept;
  /// Takes over `other`'s queue and ring; `other` is left closed.
  BatchIo(BatchIo&& other) noexcept;
  /// Releases this object's ring, then takes over `other`'s.
  BatchIo& operator=(BatchIo&& other) noexcept;
  BatchIo(const BatchIo&) = delete;
  BatchIo& operator=(const BatchIo&) = delete;
  ~BatchIo();

  /// Whether it is attached to a queue.
  [[nodiscard]] bool is_open() const noexcept { return queue_ != nullptr; }
  /// The backend in use: `loop` or `uring` once open (never `automatic`).
  [[nodiscard]] BatchBackend backend() const noexcept { return backend_; }
  /// The most packets one call moves.
  [[nodiscard]] std::size_t max_packets() const noexcept { return max_packets_; }
  /// Packets dropped as longer than their slot by the last `read_batch`.
  [[nodiscard]] std::size_t truncated() const noexcept { return truncated_; }

  /// Reads up to `min(batch.capacity(), max_packets())` packets into `batch`; sets `batch.size()`
  /// and returns it.
  /// @throws tunkit::Error as `Queue::read`; `errc::output_too_small` for a batch of no slots or
  /// a slot with no room after the headroom.
  std::size_t read_batch(PacketBatch& batch);
  /// Non-throwing form: returns the packets read; `ec` is set only when there are none.
  std::size_t read_batch(PacketBatch& batch, std::error_code& ec) noexcept;
  /// Writes packets `[0, batch.size())`; returns how many were written before the first failure.
  /// `errc::batch_too_large` above `max_packets()`.
  /// @throws tunkit::Error as `Queue::write` (the packets before the failing one were written).
  std::size_t write_batch(const PacketBatch& batch);
  /// Non-throwing form: `ec` says why packet number `result` was not written.
  std::size_t write_batch(const PacketBatch& batch, std::error_code& ec) noexcept;
  /// As `write_batch`, for packets held anywhere (e.g. `Coalescer` output).
  std::size_t write_packets(std::span<const std::span<const std::byte>> packets);
  /// Non-throwing form: `ec` says why packet number `result` was not written.
  std::size_t write_packets(std::span<const std::span<const std::byte>> packets,
                            std::error_code& ec) noexcept;
  /// As `write_packets`, for packets each given as pieces written by one gather write (what the
  /// gathering `Coalescer::coalesce` makes: `GatheredPacket::pieces`), so that no payload is
  /// copied before the kernel copies it. At most `Queue::max_buffers` pieces per packet
  /// (`errc::too_many_buffers`).
  std::size_t write_gathered(std::span<const std::span<const std::span<const std::byte>>> packets);
  /// Non-throwing form: `ec` says why packet number `result` was not written.
  std::size_t write_gathered(std::span<const std::span<const std::span<const std::byte>>> packets,
                             std::error_code& ec) noexcept;

  /// Whether io_uring can be used here: built with liburing and accepted by the running kernel
  /// (probed once: a ring set up and torn down).
  [[nodiscard]] static bool uring_available() noexcept;

 private:
  std::size_t read_loop(PacketBatch& batch, std::size_t want, std::error_code& ec) noexcept;
  std::size_t read_uring(PacketBatch& batch, std::size_t want, std::error_code& ec) noexcept;
  template <typename Get>
  std::size_t write_impl(std::size_t count, Get get, std::error_code& ec) noexcept;

  // Sets up the ring anew when the queue was closed and opened again since the last call: its
  // polls hold the old descriptors (an interrupt would no longer wake a blocked read_batch).
  [[nodiscard]] std::error_code follow_queue() noexcept;

  Queue* queue_ = nullptr;
  std::uint64_t queue_open_id_ = 0;  // the queue's open that the ring was set up for
  BatchBackend backend_ = BatchBackend::loop;
  std::size_t max_packets_ = 0;
  std::size_t truncated_ = 0;
  std::size_t uring_depth_ = 8;  // reads submitted by the next io_uring read (adapts)
  bool drained_ = false;         // loop: the last read_batch ended on an empty queue
  std::unique_ptr<detail::Uring> uring_;
  std::vector<iovec> iovs_;       // uring: two per read (slot, spare byte), one per piece written
  std::vector<unsigned> counts_;  // uring: pieces of each write
  std::vector<std::size_t> lengths_;  // uring: bytes of each write
  std::vector<int> results_;          // uring: one per operation
  std::vector<std::byte> spare_;      // uring: the spare byte of each read
};

}  // namespace tunkit
