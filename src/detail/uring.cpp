#include "detail/uring.hpp"

#include <poll.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "tunkit/error.hpp"

#ifdef TUNKIT_HAVE_URING
#include <liburing.h>
#endif

namespace tunkit::detail {

#ifdef TUNKIT_HAVE_URING

struct Uring::Impl {
  io_uring ring{};
  bool live = false;  // set up: torn down by the destructor
  ~Impl() {
    if (live) io_uring_queue_exit(&ring);
  }
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  bool wake_armed = false;  // a poll on the interrupt eventfd is pending
  int chain(int fd, bool write, int wake_fd, const iovec* iovs, unsigned per_op,
            const unsigned* counts, std::span<int> results, bool& woke) noexcept;
};

Uring::Uring(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Uring::~Uring() = default;

std::unique_ptr<Uring> Uring::create(unsigned entries, std::error_code& ec) noexcept {
  ec.clear();
  auto impl = std::unique_ptr<Impl>(new (std::nothrow) Impl);
  if (!impl) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
  // No IORING_SETUP_COOP_TASKRUN: measured on Linux 6.18, a thread waiting in io_uring_enter for
  // the chain's poll was then not woken when the poll fired (its task work waits for the next
  // kernel entry), so a blocked read_batch slept through packets and interrupts.
  const int r = io_uring_queue_init(entries, &impl->ring, 0);
  if (r < 0) {
    ec = (r == -ENOSYS || r == -EPERM) ? make_error_code(errc::feature_unsupported)
                                       : std::error_code(-r, std::system_category());
    return nullptr;
  }
  impl->live = true;
  return std::unique_ptr<Uring>(new (std::nothrow) Uring(std::move(impl)));
}

bool Uring::available() noexcept {
  static const bool ok = [] {
    std::error_code ec;
    return create(2, ec) != nullptr;
  }();
  return ok;
}

namespace {

// user_data of the operations that are not reads or writes of the batch (those carry their index).
constexpr std::uint64_t kGate = 1ULL << 32U;    // the poll that starts a read chain
constexpr std::uint64_t kWake = 1ULL << 33U;    // the poll on the interrupt eventfd
constexpr std::uint64_t kCancel = 1ULL << 34U;  // the cancellation of a gate

}  // namespace

int Uring::read(int fd, int wake_fd, const iovec* iovs, unsigned per_op, std::span<int> results,
                bool& woke) noexcept {
  return impl_->chain(fd, false, wake_fd, iovs, per_op, nullptr, results, woke);
}

int Uring::write(int fd, const iovec* iovs, const unsigned* counts,
                 std::span<int> results) noexcept {
  bool woke = false;
  return impl_->chain(fd, true, -1, iovs, 1, counts, results, woke);
}

int Uring::Impl::chain(int fd, bool write, int wake_fd, const iovec* iovs, unsigned per_op,
                       const unsigned* counts, std::span<int> results, bool& woke) noexcept {
  io_uring* r = &ring;
  const auto n = static_cast<unsigned>(results.size());
  const bool gate = wake_fd >= 0;
  woke = false;
  if (gate && !wake_armed) {
    // Before the gate: a link runs on to the next submission entry, whatever it is.
    io_uring_sqe* w = io_uring_get_sqe(r);
    if (w == nullptr) return -EBUSY;  // the ring has room for max_packets + 3
    io_uring_prep_poll_add(w, wake_fd, POLLIN);
    w->user_data = kWake;
    wake_armed = true;
  }
  if (gate) {
    io_uring_sqe* sqe = io_uring_get_sqe(r);
    if (sqe == nullptr) return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    sqe->flags |= IOSQE_IO_HARDLINK;  // the reads run after it, also when it was cancelled
    sqe->user_data = kGate;
  }
  for (unsigned i = 0; i < n; ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(r);
    if (sqe == nullptr) return -EBUSY;
    const unsigned here = counts != nullptr ? counts[i] : per_op;
    const iovec* v = iovs;
    iovs += here;
    if (write) {
      io_uring_prep_writev(sqe, fd, v, here, 0);
    } else {
      io_uring_prep_readv(sqe, fd, v, per_op, 0);
      // Measured on Linux 6.18: the tun driver supports NOWAIT, so io_uring ignores the file's
      // O_NONBLOCK and parks a read of an empty queue until a packet comes. RWF_NOWAIT makes it
      // answer EAGAIN instead, which ends the batch.
      sqe->rw_flags = RWF_NOWAIT;
    }
    // Offset 0 is ignored for a character device. The link keeps the kernel's order. Writes use
    // a plain link, which ends the chain at the first failure (a TUN write is whole or fails).
    // Reads need a hard link: every packet read is shorter than its buffer, and io_uring counts
    // a short read as a failure that severs a plain link; an EAGAIN read costs little.
    if (i + 1 < n) sqe->flags |= write ? IOSQE_IO_LINK : IOSQE_IO_HARDLINK;
    sqe->user_data = i;
  }
  const unsigned expected = n + (gate ? 1U : 0U);
  unsigned seen = 0;
  bool cancelled = false;
  int rc = io_uring_submit(r);
  if (rc < 0) return rc;
  while (seen < expected) {
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_wait_cqe(r, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) return rc;
    unsigned head = 0;
    unsigned got = 0;
    io_uring_for_each_cqe(r, head, cqe) {
      ++got;
      const std::uint64_t id = cqe->user_data;
      if (id < n) {
        results[id] = cqe->res;
        ++seen;
      } else if (id == kGate) {
        ++seen;
      } else if (id == kWake) {
        wake_armed = false;
        woke = true;
      }  // kCancel: nothing to do, the gate's own completion follows
    }
    io_uring_cq_advance(r, got);
    if (woke && !cancelled && seen < expected) {
      io_uring_sqe* c = io_uring_get_sqe(r);
      if (c != nullptr) {
        io_uring_prep_cancel64(c, kGate, 0);
        c->user_data = kCancel;
        cancelled = true;
        rc = io_uring_submit(r);
        if (rc < 0) return rc;
      }
    }
  }
  return 0;
}

#else  // !TUNKIT_HAVE_URING

struct Uring::Impl {};
Uring::Uring(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Uring::~Uring() = default;

std::unique_ptr<Uring> Uring::create(unsigned /*entries*/, std::error_code& ec) noexcept {
  ec = make_error_code(errc::feature_unsupported);
  return nullptr;
}

bool Uring::available() noexcept {
  return false;
}

int Uring::read(int /*fd*/, int /*wake_fd*/, const iovec* /*iovs*/, unsigned /*per_op*/,
                std::span<int> /*results*/, bool& woke) noexcept {
  woke = false;
  return -ENOSYS;
}

int Uring::write(int /*fd*/, const iovec* /*iovs*/, const unsigned* /*counts*/,
                 std::span<int> /*results*/) noexcept {
  return -ENOSYS;
}

#endif

}  // namespace tunkit::detail
