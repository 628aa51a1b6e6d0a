// tunkit::Link::configure: the steps of a LinkConfig in order, undone in reverse when one fails.
#include "tunkit/link.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/link_errors.hpp"

namespace tunkit {
namespace {

// The steps of configure(), in the order they are applied.
enum class Step : std::uint8_t { read_state, mtu, txqueuelen, mac, addresses, up, routes, done };

// One run of configure(). `apply` stops at the first step that fails; until then every step
// before it was applied, so the position of the failure says what to undo, and the destructor
// undoes it (also while an exception unwinds).
class Configuration {
 public:
  Configuration(Link& link, const LinkConfig& config) noexcept : link_(link), config_(config) {}
  Configuration(const Configuration&) = delete;
  Configuration& operator=(const Configuration&) = delete;
  ~Configuration() {
    if (ec_) undo();
  }

  // Applies the configuration; the failed step's error.
  std::error_code apply() noexcept {
    at_ = Step::read_state;
    before_ = link_.state(ec_);
    if (ec_) return ec_;
    at_ = Step::mtu;
    if (config_.mtu && !run([&](std::error_code& ec) { link_.set_mtu(*config_.mtu, ec); })) {
      return ec_;
    }
    at_ = Step::txqueuelen;
    if (config_.txqueuelen &&
        !run([&](std::error_code& ec) { link_.set_txqueuelen(*config_.txqueuelen, ec); })) {
      return ec_;
    }
    at_ = Step::mac;
    if (config_.mac && !run([&](std::error_code& ec) { link_.set_mac(*config_.mac, ec); })) {
      return ec_;
    }
    at_ = Step::addresses;
    for (index_ = 0; index_ < config_.addresses.size(); ++index_) {
      if (!run([&](std::error_code& ec) { link_.add_address(config_.addresses[index_], ec); })) {
        return ec_;
      }
    }
    at_ = Step::up;
    if (raises_up() && !run([&](std::error_code& ec) { link_.set_up(ec); })) return ec_;
    at_ = Step::routes;
    for (index_ = 0; index_ < config_.routes.size(); ++index_) {
      if (!run([&](std::error_code& ec) { link_.add_route(config_.routes[index_], ec); })) {
        return ec_;
      }
    }
    at_ = Step::done;
    return {};
  }

  // The failed step's error as its throwing form has it. Made before the rollback: hints read
  // the state the failure left (the MTU an earlier step set, for instance).
  [[nodiscard]] Error failure() const {
    switch (at_) {
      case Step::read_state:
        return detail::link_error(link_, "read state of", ec_);
      case Step::mtu:
        return detail::mtu_error(link_, *config_.mtu, ec_);
      case Step::txqueuelen:
        return detail::txqueuelen_error(link_, *config_.txqueuelen, ec_);
      case Step::mac:
        return detail::mac_error(link_, *config_.mac, ec_);
      case Step::addresses:
        return detail::add_address_error(link_, config_.addresses[index_], ec_);
      case Step::up:
        return detail::link_error(link_, "set up", ec_);
      case Step::routes:
        return detail::add_route_error(link_, config_.routes[index_], ec_);
      case Step::done:
        break;
    }
    return make_error(ec_, "configure", link_.name());  // not reached: nothing failed
  }

 private:
  template <typename F>
  bool run(F&& step) noexcept {
    step(ec_);
    return !ec_;
  }

  [[nodiscard]] bool raises_up() const noexcept { return config_.up && !before_.up; }

  // Undoes the steps before the failed one, in reverse order; what the kernel already undid
  // itself (IPv6 addresses and routes dropped by set_down) fails harmlessly.
  void undo() noexcept {
    std::error_code ignored;
    const std::size_t routes = at_ == Step::routes ? index_ : 0;
    for (std::size_t i = routes; i-- > 0;)
      link_.remove_route(config_.routes[i], ignored);
    if (at_ > Step::up && raises_up()) link_.set_down(ignored);
    const std::size_t addresses = at_ > Step::addresses    ? config_.addresses.size()
                                  : at_ == Step::addresses ? index_
                                                           : 0;
    for (std::size_t i = addresses; i-- > 0;)
      link_.remove_address(config_.addresses[i], ignored);
    if (at_ > Step::mac && config_.mac && before_.mac) link_.set_mac(*before_.mac, ignored);
    if (at_ > Step::txqueuelen && config_.txqueuelen) {
      link_.set_txqueuelen(before_.txqueuelen, ignored);
    }
    if (at_ > Step::mtu && config_.mtu) link_.set_mtu(before_.mtu, ignored);
  }

  Link& link_;
  const LinkConfig& config_;
  LinkState before_;
  Step at_ = Step::read_state;
  std::size_t index_ = 0;  // addresses, routes: the one that failed
  std::error_code ec_;
};

}  // namespace

void Link::configure(const LinkConfig& config) {
  Configuration run(*this, config);
  const std::error_code ec = run.apply();
  if (!ec) return;
  const Error step = run.failure();
  // run's destructor undoes the steps before the failed one as the exception leaves.
  throw Error(ec, std::string(step.what()) + "; the steps before it were undone");
}

void Link::configure(const LinkConfig& config, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  Configuration run(*this, config);
  ec = run.apply();
}

}  // namespace tunkit
