#pragma once
// The io_uring backend of tunkit::BatchIo: the one place tunkit calls liburing, kept apart from
// the sys::Syscalls seam because a ring cannot be faked per call (the kernel reads the submission
// queue from shared memory). Built only with TUNKIT_HAVE_URING; otherwise every entry point
// reports errc::feature_unsupported.

#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <span>
#include <system_error>

namespace tunkit::detail {

class Uring {
 public:
  /// A ring of at least `entries` submission entries; null with `ec` set on failure.
  static std::unique_ptr<Uring> create(unsigned entries, std::error_code& ec) noexcept;
  /// Whether a ring can be set up here (probed once per process).
  static bool available() noexcept;

  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
  ~Uring();

  /// Reads: submits `results.size()` readv operations on `fd`, operation i over
  /// `iovs[i * per_op, (i + 1) * per_op)`, hard-linked so that they run in order (once the queue
  /// is empty the rest answer EAGAIN), and collects them. `results[i]`: bytes read or -errno.
  ///
  /// With `wake_fd` >= 0 (a blocking queue) the chain starts with a poll for POLLIN on `fd`, so
  /// that waiting for the first packet and reading the batch take one io_uring_enter; a poll on
  /// `wake_fd` (Queue::interrupt's eventfd), kept armed across calls, ends the wait: then `woke`
  /// is set and the chain cancelled (reads that already ran still count).
  /// Returns 0, or -errno when the ring itself failed (then no result is meaningful).
  int read(int fd, int wake_fd, const iovec* iovs, unsigned per_op, std::span<int> results,
           bool& woke) noexcept;
  /// Writes: `results.size()` writev operations, linked so that the first one that fails cancels
  /// the rest (-ECANCELED); operation i takes `counts[i]` iovecs from `iovs`, following those of
  /// the operations before it (one each when `counts` is null).
  int write(int fd, const iovec* iovs, const unsigned* counts, std::span<int> results) noexcept;

 private:
  struct Impl;
  explicit Uring(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tunkit::detail
