#include "tunkit/batch.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "detail/uring.hpp"
#include "tun/hints.hpp"
#include "tun/queue_access.hpp"
#include "tunkit/error.hpp"
#include "tunkit/offload/gro.hpp"

namespace tunkit {

// Every write of the gathering Coalescer fits one gather write of a queue.
static_assert(Coalescer::max_gather_pieces <= Queue::max_buffers);
namespace {

using detail::sys_error;

bool would_block(std::error_code ec) noexcept {
  return ec == std::errc::operation_would_block;
}

std::string_view batch_hint(std::error_code ec) noexcept {
  if (ec == errc::output_too_small) return "every slot needs room after the headroom";
  if (ec == errc::batch_too_large) return "more packets than BatchOptions::max_packets";
  if (ec == errc::packet_truncated) return "use slots of at least the MTU plus headers";
  return detail::hint_for(ec, EIO, "the interface is down: bring it up first");
}

// The device a batch failure names (none for a BatchIo not yet opened).
std::string_view name_of(const Queue* queue) noexcept {
  return queue != nullptr ? std::string_view(queue->name()) : std::string_view();
}

}  // namespace

std::string_view to_string(BatchBackend backend) noexcept {
  switch (backend) {
    case BatchBackend::automatic:
      return "automatic";
    case BatchBackend::loop:
      return "loop";
    case BatchBackend::uring:
      return "uring";
  }
  return "unknown";
}

PacketBuffers::PacketBuffers(std::size_t slots, std::size_t slot_size, std::size_t headroom)
    : bytes_(slots * slot_size), spans_(slots), lengths_(slots) {
  for (std::size_t i = 0; i < slots; ++i)
    spans_[i] = std::span(bytes_).subspan(i * slot_size, slot_size);
  batch_ = PacketBatch(spans_, lengths_, headroom);
}

BatchIo::BatchIo() noexcept = default;
BatchIo::BatchIo(BatchIo&& other) noexcept
    : queue_(std::exchange(other.queue_, nullptr)),
      queue_open_id_(other.queue_open_id_),
      backend_(other.backend_),
      max_packets_(other.max_packets_),
      truncated_(other.truncated_),
      uring_depth_(other.uring_depth_),
      drained_(other.drained_),
      uring_(std::move(other.uring_)),
      iovs_(std::move(other.iovs_)),
      counts_(std::move(other.counts_)),
      lengths_(std::move(other.lengths_)),
      results_(std::move(other.results_)),
      spare_(std::move(other.spare_)) {}
BatchIo& BatchIo::operator=(BatchIo&& other) noexcept {
  if (this != &other) {
    queue_ = std::exchange(other.queue_, nullptr);
    queue_open_id_ = other.queue_open_id_;
    backend_ = other.backend_;
    max_packets_ = other.max_packets_;
    truncated_ = other.truncated_;
    uring_depth_ = other.uring_depth_;
    drained_ = other.drained_;
    uring_ = std::move(other.uring_);
    iovs_ = std::move(other.iovs_);
    counts_ = std::move(other.counts_);
    lengths_ = std::move(other.lengths_);
    results_ = std::move(other.results_);
    spare_ = std::move(other.spare_);
  }
  return *this;
}
BatchIo::~BatchIo() = default;

BatchIo::BatchIo(Queue& queue, BatchOptions options) {
  std::error_code ec;
  open(queue, options, ec);
  if (ec) {
    std::string_view hint;
    if (ec == errc::feature_unsupported) {
      hint = queue.has_packet_info() ? "io_uring batches need a queue without packet information"
             : !detail::QueueAccess::sys(queue).kernel_descriptors()
                 ? "io_uring needs the real kernel, not a fake syscall seam"
                 : "io_uring is not built in (liburing) or the kernel refuses it "
                   "(kernel.io_uring_disabled, seccomp)";
    } else if (ec == std::errc::invalid_argument) {
      hint = "max_packets must be 1..1024";
    }
    detail::raise({ec, "batch I/O on", queue.name(), hint});
  }
}

bool BatchIo::uring_available() noexcept {
  return detail::Uring::available();
}

void BatchIo::open(Queue& queue, BatchOptions options, std::error_code& ec) noexcept {
  ec.clear();
  if (!queue.is_open()) {
    ec = errc::not_open;
    return;
  }
  if (options.max_packets == 0 || options.max_packets > max_packets_limit) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return;
  }
  // io_uring bypasses the syscall seam, so only the real kernel can use it; and its reads carry
  // no packet-information header (the loop handles those).
  const bool uring_possible =
      detail::QueueAccess::sys(queue).kernel_descriptors() && !queue.has_packet_info();
  BatchBackend backend = options.backend;
  // automatic is io_uring where it can be used, else the loop: measured with bench/netns_bench.py
  // (docs/performance.md), the io_uring chain forwards 2-4x the small packets per second at equal
  // loss and 10-15 % more TCP with offloads. A ring the kernel refuses (io_uring disabled by
  // sysctl or seccomp, no memory to lock) leaves automatic on the loop, silently.
  const bool automatic = backend == BatchBackend::automatic;
  if (automatic) backend = uring_possible ? BatchBackend::uring : BatchBackend::loop;
  std::unique_ptr<detail::Uring> ring;
  std::vector<iovec> iovs;
  std::vector<unsigned> counts;
  std::vector<std::size_t> lengths;
  std::vector<int> results;
  std::vector<std::byte> spare;
  if (backend == BatchBackend::uring) {
    if (!uring_possible) {
      ec = errc::feature_unsupported;
      return;
    }
    // Room for a batch plus the gate poll, the interrupt poll and a cancellation.
    ring = detail::Uring::create(static_cast<unsigned>(options.max_packets + 3), ec);
    if (!ring && automatic) {
      ec.clear();
      backend = BatchBackend::loop;
    } else if (!ring) {
      return;
    }
  }
  if (backend == BatchBackend::uring) {
    try {
      // A gathered write's pieces always fit (Queue::max_buffers at most per packet).
      iovs.resize(std::max(2 * options.max_packets, Queue::max_buffers));
      counts.resize(options.max_packets);
      lengths.resize(options.max_packets);
      results.resize(options.max_packets);
      spare.resize(options.max_packets);
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return;
    }
  }
  queue_ = &queue;
  queue_open_id_ = detail::QueueAccess::open_id(queue);
  backend_ = backend;
  max_packets_ = options.max_packets;
  truncated_ = 0;
  uring_depth_ = std::min<std::size_t>(8, max_packets_);
  drained_ = false;
  uring_ = std::move(ring);
  iovs_ = std::move(iovs);
  counts_ = std::move(counts);
  lengths_ = std::move(lengths);
  results_ = std::move(results);
  spare_ = std::move(spare);
}

std::size_t BatchIo::read_batch(PacketBatch& batch) {
  std::error_code ec;
  const std::size_t n = read_batch(batch, ec);
  if (ec) detail::raise({ec, "read_batch", name_of(queue_), batch_hint(ec)});
  return n;
}

std::error_code BatchIo::follow_queue() noexcept {
  const std::uint64_t id = detail::QueueAccess::open_id(*queue_);
  if (id == queue_open_id_ || backend_ != BatchBackend::uring) {
    queue_open_id_ = id;
    return {};
  }
  // A new ring: tearing the old one down cancels its poll on the old wake-up eventfd.
  std::error_code ec;
  uring_.reset();
  uring_ = detail::Uring::create(static_cast<unsigned>(max_packets_ + 3), ec);
  if (uring_) queue_open_id_ = id;
  return ec;
}

std::size_t BatchIo::read_batch(PacketBatch& batch, std::error_code& ec) noexcept {
  ec.clear();
  batch.clear();
  truncated_ = 0;
  if (queue_ == nullptr || !queue_->is_open()) {
    ec = errc::not_open;
    return 0;
  }
  if ((ec = follow_queue())) return 0;
  const std::size_t want = std::min(batch.capacity(), max_packets_);
  if (want == 0) {
    ec = errc::output_too_small;
    return 0;
  }
  for (std::size_t i = 0; i < want; ++i) {
    if (batch.room(i).empty()) {
      ec = errc::output_too_small;
      return 0;
    }
  }
  // The loop, on a blocking queue: when the last call emptied the queue, wait first (a read
  // would most likely answer EAGAIN: one system call saved per wake-up, about a microsecond on a
  // VM with page-table isolation), else read first and wait only when nothing was there.
  bool wait_first = backend_ == BatchBackend::loop && drained_ && !queue_->non_blocking();
  for (;;) {
    if (wait_first) {
      // Interruptibly, for the first packet; then take what is there.
      const WaitResult w = queue_->wait_readable(std::chrono::milliseconds(-1), ec);
      if (ec) return 0;
      if (w == WaitResult::interrupted) {
        ec = errc::interrupted;
        return 0;
      }
    }
    const std::size_t n =
        backend_ == BatchBackend::uring ? read_uring(batch, want, ec) : read_loop(batch, want, ec);
    batch.set_size(n);
    if (n > 0 || !would_block(ec) || queue_->non_blocking()) return n;
    ec.clear();
    // io_uring waited already (its poll said readable, yet the queue was empty by the read).
    wait_first = backend_ == BatchBackend::loop;
  }
}

std::size_t BatchIo::read_loop(PacketBatch& batch, std::size_t want, std::error_code& ec) noexcept {
  std::size_t n = 0;
  PacketInfo info;
  // Bounded: a flood of oversized packets must not keep one call going forever.
  for (std::size_t attempts = 0; n < want && attempts < 2 * want; ++attempts) {
    const std::span<std::byte> one[1] = {batch.room(n)};
    std::error_code e;
    const std::size_t len = detail::QueueAccess::read_nowait(*queue_, one, info, e);
    if (e == errc::packet_truncated) {
      ++truncated_;
      continue;
    }
    if (e) {
      // EAGAIN ends a batch normally; another error after some packets is left for the next
      // call, where the kernel reports it again (EIO, EBADFD persist).
      drained_ = would_block(e);
      if (n == 0) ec = (truncated_ > 0 && would_block(e)) ? errc::packet_truncated : e;
      return n;
    }
    batch.length(n++) = len;
  }
  drained_ = false;  // stopped by the batch's size: more may be queued
  if (n == 0 && truncated_ > 0) ec = errc::packet_truncated;
  return n;
}

std::size_t BatchIo::read_uring(PacketBatch& batch, std::size_t want,
                                std::error_code& ec) noexcept {
  // Every read submitted runs (those past the end of the queue answer EAGAIN, cheaply but not
  // for free): submit about twice what the last call found (uring_depth_), not the whole batch.
  const std::size_t k = std::min(want, uring_depth_);
  for (std::size_t i = 0; i < k; ++i) {
    const std::span<std::byte> room = batch.room(i);
    // A spare byte after the slot detects a longer packet (the kernel truncates silently).
    iovs_[2 * i] = {room.data(), room.size()};
    iovs_[2 * i + 1] = {&spare_[i], 1};
  }
  const std::span<int> results(results_.data(), k);
  for (int& r : results)
    r = -ECANCELED;
  // A blocking queue waits inside the same io_uring_enter (a poll gates the chain).
  bool woke = false;
  const int wake_fd = queue_->non_blocking() ? -1 : detail::QueueAccess::wake_fd(*queue_);
  if (const int r = uring_->read(queue_->native_handle(), wake_fd, iovs_.data(), 2, results, woke);
      r < 0) {
    ec = sys_error(-r);
    return 0;
  }
  std::size_t n = 0;
  std::error_code first_error;
  for (std::size_t i = 0; i < k; ++i) {
    const int res = results[i];
    if (res < 0) {
      // Every read ran (hard links): one after an EAGAIN may still have found a packet that
      // arrived meanwhile, so look at all of them.
      if (!first_error) {
        first_error = (res == -EAGAIN || res == -EINTR || res == -ECANCELED) ? sys_error(EAGAIN)
                                                                             : sys_error(-res);
      }
      continue;
    }
    const auto len = static_cast<std::size_t>(res);
    if (len > batch.room(i).size()) {
      ++truncated_;
      continue;
    }
    if (n != i) {
      // Rare: a truncated packet before this one; keep the batch dense.
      std::memmove(batch.room(n).data(), batch.room(i).data(), len);
    }
    batch.length(n++) = len;
  }
  uring_depth_ = std::min(max_packets_, std::max<std::size_t>(4, 2 * (n + truncated_)));
  if (n == 0) {
    if (truncated_ > 0) {
      ec = errc::packet_truncated;
    } else if (woke) {
      ec = errc::interrupted;
    } else {
      ec = first_error ? first_error : sys_error(EAGAIN);
    }
  }
  return n;
}

// `get(i)` gives packet i's pieces, valid until the next call.
template <typename Get>
std::size_t BatchIo::write_impl(std::size_t count, Get get, std::error_code& ec) noexcept {
  ec.clear();
  if (queue_ == nullptr || !queue_->is_open()) {
    ec = errc::not_open;
    return 0;
  }
  if ((ec = follow_queue())) return 0;
  if (count > max_packets_) {
    ec = errc::batch_too_large;
    return 0;
  }
  if (backend_ == BatchBackend::loop) {
    for (std::size_t i = 0; i < count; ++i) {
      (void)detail::QueueAccess::write(*queue_, get(i), ec);
      if (ec) return i;
    }
    return count;
  }
  std::size_t done = 0;
  while (done < count) {
    // Checks the kernel would answer with a bare EINVAL (or that Queue::write makes) before the
    // submission: the batch is submitted up to the first packet that fails them (or that no
    // longer fits in the iovecs: the rest go in the next submission).
    std::size_t k = 0;
    std::size_t used = 0;
    std::error_code stop;
    for (std::size_t i = done; i < count; ++i, ++k) {
      const std::span<const std::span<const std::byte>> pieces = get(i);
      if (pieces.size() > Queue::max_buffers) {
        stop = errc::too_many_buffers;
        break;
      }
      if (used + pieces.size() > iovs_.size()) break;
      std::size_t total = 0;
      for (const auto& piece : pieces)
        total += piece.size();
      if (total == 0) {
        stop = errc::empty_packet;
        break;
      }
      if (detail::QueueAccess::vnet_invalid(*queue_, pieces, total)) {
        stop = errc::invalid_vnet_header;
        break;
      }
      for (const auto& piece : pieces) {
        // iovec's base is non-const by POSIX's signature; writev never writes through it.
        iovs_[used++] = {const_cast<std::byte*>(piece.data()), piece.size()};
      }
      counts_[k] = static_cast<unsigned>(pieces.size());
      lengths_[k] = total;
    }
    if (k == 0) {
      ec = stop;
      return done;
    }
    const std::span<int> results(results_.data(), k);
    for (int& r : results)
      r = -ECANCELED;
    if (const int r = uring_->write(queue_->native_handle(), iovs_.data(), counts_.data(), results);
        r < 0) {
      ec = sys_error(-r);
      return done;
    }
    bool again = false;
    for (std::size_t i = 0; i < k && !again; ++i) {
      const int res = results[i];
      if (res >= 0 && static_cast<std::size_t>(res) == lengths_[i]) {
        ++done;
      } else if (res == -EAGAIN && !queue_->non_blocking()) {
        // The device's queue is full (rare for TUN): wait, then submit the rest again (the
        // link cancelled it).
        const WaitResult w = queue_->wait_writable(std::chrono::milliseconds(-1), ec);
        if (ec) return done;
        if (w == WaitResult::interrupted) {
          ec = errc::interrupted;
          return done;
        }
        again = true;
      } else {
        // The tun driver writes whole packets; a short write is an error, never looped.
        ec = res >= 0 ? sys_error(EIO) : sys_error(-res);
        return done;
      }
    }
    if (!again && stop) {
      // The packet after the submitted ones failed the checks: report it.
      ec = stop;
      return done;
    }
  }
  return done;
}

std::size_t BatchIo::write_batch(const PacketBatch& batch) {
  std::error_code ec;
  const std::size_t n = write_batch(batch, ec);
  if (ec) detail::raise({ec, "write_batch", name_of(queue_), batch_hint(ec)});
  return n;
}

std::size_t BatchIo::write_batch(const PacketBatch& batch, std::error_code& ec) noexcept {
  std::span<const std::byte> one;
  return write_impl(
      batch.size(),
      [&](std::size_t i) {
        one = batch.packet(i);
        return std::span<const std::span<const std::byte>>(&one, 1);
      },
      ec);
}

std::size_t BatchIo::write_packets(std::span<const std::span<const std::byte>> packets) {
  std::error_code ec;
  const std::size_t n = write_packets(packets, ec);
  if (ec) detail::raise({ec, "write_packets", name_of(queue_), batch_hint(ec)});
  return n;
}

std::size_t BatchIo::write_packets(std::span<const std::span<const std::byte>> packets,
                                   std::error_code& ec) noexcept {
  return write_impl(
      packets.size(), [&](std::size_t i) { return packets.subspan(i, 1); }, ec);
}

std::size_t BatchIo::write_gathered(
    std::span<const std::span<const std::span<const std::byte>>> packets) {
  std::error_code ec;
  const std::size_t n = write_gathered(packets, ec);
  if (ec) detail::raise({ec, "write_gathered", name_of(queue_), batch_hint(ec)});
  return n;
}

std::size_t BatchIo::write_gathered(
    std::span<const std::span<const std::span<const std::byte>>> packets,
    std::error_code& ec) noexcept {
  return write_impl(
      packets.size(), [&](std::size_t i) { return packets[i]; }, ec);
}

}  // namespace tunkit
