#include "tun/wake_table.hpp"

#include <cstdint>
#include <thread>

#include "detail/eintr.hpp"

namespace tunkit::detail {

void WakeTable::clear() noexcept {
  for (auto& fd : fds_)
    fd.store(-1);
  // An interrupt() that loaded a descriptor before the stores above incremented active_ before
  // that load, so it is counted here until its write is done. Writes take microseconds.
  while (active_.load() != 0)
    std::this_thread::yield();
}

void WakeTable::interrupt() const noexcept {
  active_.fetch_add(1);
  const std::uint64_t one = 1;
  for (const auto& slot : fds_) {
    const int fd = slot.load();
    // EAGAIN: the counter is saturated, i.e. already set.
    if (fd >= 0) (void)retry_eintr([&] { return sys_->write(fd, &one, sizeof one); });
  }
  active_.fetch_sub(1);
}

void WakeTable::clear_interrupt() const noexcept {
  active_.fetch_add(1);
  for (const auto& slot : fds_) {
    const int fd = slot.load();
    std::uint64_t value = 0;
    if (fd >= 0) (void)retry_eintr([&] { return sys_->read(fd, &value, sizeof value); });
  }
  active_.fetch_sub(1);
}

}  // namespace tunkit::detail
