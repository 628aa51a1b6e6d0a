// Readiness of every kind of descriptor, and poll with simulated time: a finite timeout expires
// at once, a wait without timeout really waits for another thread (bounded by block_limit).
#include "testing/fake_kernel/state.hpp"

#include <cerrno>
#include <limits>

namespace tunkit::testing {
namespace {

using fake_kernel::FdKind;
using fake_kernel::make_record;

}  // namespace

void FakeKernel::set_block_limit(std::chrono::milliseconds limit) {
  std::lock_guard lock(state_->mu);
  state_->block_limit = limit;
}

short FakeKernel::State::readiness(const pollfd& p) {
  if (p.fd < 0) return 0;
  Fd* f = find_fd(p.fd);
  if (f == nullptr) return POLLNVAL;
  int mask = 0;
  switch (f->kind) {
    case FdKind::tun: {
      const Device* dev = attached_device(*f);
      if (dev == nullptr) return POLLERR;  // tun_chr_poll(): no device, EPOLLERR alone
      if (!f->rx.empty()) mask |= POLLIN | POLLRDNORM;
      if (dev->up) mask |= POLLOUT | POLLWRNORM;
      break;
    }
    case FdKind::event:
      if (f->counter > 0) mask |= POLLIN | POLLRDNORM;
      if (f->counter < std::numeric_limits<std::uint64_t>::max() - 1) mask |= POLLOUT | POLLWRNORM;
      break;
    case FdKind::netlink:
      if (rtnl.pending(p.fd) > 0) mask |= POLLIN | POLLRDNORM;
      mask |= POLLOUT | POLLWRNORM;
      break;
    case FdKind::inet:
      mask |= POLLOUT | POLLWRNORM;
      break;
    case FdKind::netns:
    case FdKind::ebpf:
      mask |= POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;  // DEFAULT_POLLMASK
      break;
  }
  return static_cast<short>(mask & (p.events | POLLERR | POLLHUP));
}

int FakeKernel::State::scan(pollfd* pfds, nfds_t n) {
  int ready = 0;
  for (nfds_t i = 0; i < n; ++i) {
    pfds[i].revents = readiness(pfds[i]);
    if (pfds[i].revents != 0) ++ready;
  }
  return ready;
}

int FakeKernel::poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  CallRecord rec =
      make_record(Call::poll, nfds > 0 && fds != nullptr ? fds[0].fd : -1, 0, timeout_ms);
  if (const int err = s.scripted(Call::poll))
    return s.run<int>(std::move(rec), err, [](CallRecord&) { return 0; });
  if (nfds > 0 && fds == nullptr)
    return s.run<int>(std::move(rec), EFAULT, [](CallRecord&) { return 0; });
  int ready = s.scan(fds, nfds);
  if (ready == 0 && timeout_ms < 0) {
    // Wait for another thread to make something ready; give up after block_limit so that a test
    // that would hang fails instead (see the header).
    const auto deadline = std::chrono::steady_clock::now() + s.block_limit;
    while (ready == 0) {
      if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout) {
        ready = s.scan(fds, nfds);
        if (ready == 0) ready = -EDEADLK;
        break;
      }
      ready = s.scan(fds, nfds);
    }
  }
  return s.run<int>(std::move(rec), 0, [&](CallRecord&) { return ready; });
}

}  // namespace tunkit::testing
