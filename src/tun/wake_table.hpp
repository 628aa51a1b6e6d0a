#pragma once
// detail::WakeTable: the wake-up eventfds of a device's queues in a fixed table, so that
// TunDevice::interrupt() can wake every queue from any thread or a signal handler without
// walking the queue list that add_queue() and close() change.

#include <array>
#include <atomic>
#include <cstddef>

#include "tunkit/options.hpp"
#include "tunkit/sys.hpp"

namespace tunkit::detail {

class WakeTable {
 public:
  explicit WakeTable(sys::Syscalls& sys) noexcept : sys_(&sys) {
    for (auto& fd : fds_)
      fd.store(-1);
  }

  /// The seam the eventfds are written through.
  [[nodiscard]] sys::Syscalls* sys() const noexcept { return sys_; }

  /// Publishes queue `slot`'s eventfd (-1: none).
  void set(std::size_t slot, int fd) noexcept { fds_[slot].store(fd); }

  /// Forgets every eventfd and waits until no interrupt() still writes to one, so that the
  /// caller may close them: afterwards no interrupt() touches a descriptor that is closed or
  /// reused. Not from a signal handler.
  void clear() noexcept;

  /// Writes 1 to every published eventfd (async-signal-safe: atomics and write(2) only).
  void interrupt() const noexcept;

  /// Reads every published eventfd back to 0 (ends the effect of interrupt()).
  void clear_interrupt() const noexcept;

 private:
  // Sequentially consistent throughout: an interrupt() that found a descriptor has registered
  // in active_ before clear() looks at active_ (see clear()).
  std::array<std::atomic<int>, max_queues> fds_;
  mutable std::atomic<int> active_{0};
  sys::Syscalls* sys_;
};

}  // namespace tunkit::detail
