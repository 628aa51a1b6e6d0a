// Scripted failures (fail_next, fail_next_ioctl) and the call log (calls, count).
#include "testing/fake_kernel/state.hpp"

#include <algorithm>
#include <stdexcept>

namespace tunkit::testing {

namespace fake_kernel {

CallRecord make_record(Call call, int fd, unsigned long request, std::int64_t arg) {
  CallRecord r;
  r.call = call;
  r.fd = fd;
  r.request = request;
  r.arg = arg;
  return r;
}

}  // namespace fake_kernel

int FakeKernel::State::fire(std::deque<ScriptedFailure>& queue) {
  if (queue.empty()) return 0;
  ScriptedFailure& next = queue.front();
  if (next.after > 0) {
    --next.after;
    return 0;
  }
  const int err = next.err;
  queue.pop_front();
  return err;
}

int FakeKernel::State::scripted(Call call) {
  auto it = failures.find(call);
  return it == failures.end() ? 0 : fire(it->second);
}

int FakeKernel::State::scripted(const CallRecord& rec) {
  if (rec.call == Call::ioctl) {
    auto it = ioctl_failures.find(rec.request);
    if (it != ioctl_failures.end()) {
      if (const int err = fire(it->second)) return err;
    }
  }
  return scripted(rec.call);
}

void FakeKernel::fail_next(Call call, int err, std::size_t after) {
  if (err <= 0) throw std::invalid_argument("FakeKernel::fail_next: err must be a positive errno");
  std::lock_guard lock(state_->mu);
  state_->failures[call].push_back({err, after});
}

void FakeKernel::fail_next_ioctl(unsigned long request, int err, std::size_t after) {
  if (err <= 0) {
    throw std::invalid_argument("FakeKernel::fail_next_ioctl: err must be a positive errno");
  }
  std::lock_guard lock(state_->mu);
  state_->ioctl_failures[request].push_back({err, after});
}

void FakeKernel::clear_failures() {
  std::lock_guard lock(state_->mu);
  state_->failures.clear();
  state_->ioctl_failures.clear();
}

std::vector<FakeKernel::CallRecord> FakeKernel::calls() const {
  std::lock_guard lock(state_->mu);
  return state_->log;
}

std::size_t FakeKernel::count(Call call) const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(std::count_if(
      state_->log.begin(), state_->log.end(), [&](const CallRecord& r) { return r.call == call; }));
}

std::size_t FakeKernel::count_ioctl(unsigned long request) const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(std::count_if(
      state_->log.begin(), state_->log.end(),
      [&](const CallRecord& r) { return r.call == Call::ioctl && r.request == request; }));
}

void FakeKernel::clear_calls() {
  std::lock_guard lock(state_->mu);
  state_->log.clear();
}

std::string_view to_string(FakeKernel::Call call) noexcept {
  using Call = FakeKernel::Call;
  switch (call) {
    case Call::open:
      return "open";
    case Call::close:
      return "close";
    case Call::ioctl:
      return "ioctl";
    case Call::read:
      return "read";
    case Call::write:
      return "write";
    case Call::readv:
      return "readv";
    case Call::writev:
      return "writev";
    case Call::poll:
      return "poll";
    case Call::eventfd:
      return "eventfd";
    case Call::fcntl:
      return "fcntl";
    case Call::socket:
      return "socket";
    case Call::bind:
      return "bind";
    case Call::getsockname:
      return "getsockname";
    case Call::setsockopt:
      return "setsockopt";
    case Call::sendto:
      return "sendto";
    case Call::recvfrom:
      return "recvfrom";
    case Call::fstat:
      return "fstat";
    case Call::getsockopt:
      return "getsockopt";
    case Call::fcntl_ptr:
      return "fcntl";
    case Call::bpf:
      return "bpf";
    case Call::setns:
      return "setns";
  }
  return "?";
}

}  // namespace tunkit::testing
