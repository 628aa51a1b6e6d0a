#pragma once
/// @file
/// Network namespaces: `tunkit::NetNs` (a namespace descriptor), `tunkit::in_netns` (run code
/// inside a namespace without moving the calling thread) and `tunkit::open_in_netns` (create a
/// TUN/TAP device directly inside a namespace).
///
/// A network namespace is a per-thread attribute (setns(2) moves only the calling thread), and
/// whatever a thread creates while inside one stays there: a TUN/TAP device, a netlink socket.
/// Descriptors work from every thread afterwards. `in_netns` exploits that: it runs a function on
/// a short-lived thread that enters the namespace first and ends afterwards, so no other thread,
/// and in particular not the caller's, ever changes namespace. It is thread-safe: calls from
/// several threads, into the same or different namespaces, do not interfere.
///
/// @code
/// auto ns = tunkit::NetNs::open_named("blue");             // /run/netns/blue
/// tunkit::TunDevice dev = tunkit::open_in_netns(ns, {.name = "tun0"});
/// tunkit::Link link = tunkit::in_netns(ns, [&] { return tunkit::Link(dev.ifindex()); });
/// link.add_address(tunkit::IpPrefix::parse("10.0.0.1/24"));  // configures tun0 inside "blue"
/// link.set_up();
/// @endcode

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "tunkit/detail/owned_fd.hpp"
#include "tunkit/export.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

// open_in_netns returns a TunDevice: declared here so that this header stays below device.hpp
// (callers of open_in_netns use the device, so they include <tunkit/device.hpp>).
class TunDevice;
struct Options;

/// Owns a descriptor of a network namespace (a file under /proc/PID/ns/ or /run/netns/, opened
/// O_RDONLY | O_CLOEXEC through the `sys::Syscalls` seam). Move-only; the destructor closes the
/// descriptor once. Holding it keeps the namespace alive even when nothing else uses it.
class TUNKIT_EXPORT NetNs {
 public:
  /// No namespace (`is_open() == false`).
  NetNs() noexcept = default;
  /// Takes over `other`'s descriptor; `other` is left closed.
  NetNs(NetNs&& other) noexcept = default;
  /// Closes this descriptor and takes over `other`'s.
  NetNs& operator=(NetNs&& other) noexcept = default;
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;
  /// Closes the descriptor (never retried on EINTR).
  ~NetNs() = default;

  /// Opens the namespace file at `path` (e.g. "/proc/1234/ns/net", "/run/netns/blue"). Whether
  /// it really is a network namespace is checked when it is used (EINVAL from setns).
  /// @throws tunkit::Error, e.g. `tunkit: open network namespace "/run/netns/blue": no such file
  ///   or device`.
  [[nodiscard]] static NetNs open_path(const std::string& path, sys::Syscalls& sys = sys::real());
  /// As above; on failure `ec` is set and the result is closed.
  [[nodiscard]] static NetNs open_path(const std::string& path, std::error_code& ec,
                                       sys::Syscalls& sys = sys::real()) noexcept;
  /// Opens the namespace that `ip netns add NAME` made: /run/netns/NAME. A name that is empty,
  /// holds '/' or is "." or ".." is `errc::invalid_netns_name` before any system call.
  /// @throws tunkit::Error; ENOENT comes with the hint to create it with `ip netns add NAME`.
  [[nodiscard]] static NetNs open_named(std::string_view name, sys::Syscalls& sys = sys::real());
  /// As above; on failure `ec` is set and the result is closed.
  [[nodiscard]] static NetNs open_named(std::string_view name, std::error_code& ec,
                                        sys::Syscalls& sys = sys::real()) noexcept;
  /// The calling thread's network namespace (/proc/thread-self/ns/net): keep it to come back to,
  /// or to move a device into it from elsewhere.
  /// @throws tunkit::Error
  [[nodiscard]] static NetNs current(sys::Syscalls& sys = sys::real());
  /// As above; on failure `ec` is set and the result is closed.
  [[nodiscard]] static NetNs current(std::error_code& ec,
                                     sys::Syscalls& sys = sys::real()) noexcept;
  /// A namespace from a descriptor the caller keeps: it is duplicated (F_DUPFD_CLOEXEC).
  /// @throws tunkit::Error (EBADF for a descriptor that is not open).
  [[nodiscard]] static NetNs from_fd(int fd, sys::Syscalls& sys = sys::real());
  /// Takes ownership of `fd`, which the caller must not close afterwards.
  [[nodiscard]] static NetNs adopt(int fd, sys::Syscalls& sys = sys::real()) noexcept;

  /// True when a descriptor is held.
  [[nodiscard]] bool is_open() const noexcept { return static_cast<bool>(fd_); }
  /// The descriptor (still owned), e.g. for setns(2) or IFLA_NET_NS_FD.
  [[nodiscard]] int native_handle() const noexcept { return fd_.get(); }
  /// Gives up ownership of the descriptor and returns it; the object becomes closed.
  [[nodiscard]] int release() noexcept { return fd_.release(); }
  /// Closes the descriptor. Idempotent.
  void close() noexcept { fd_.reset(); }
  /// How the namespace was opened, for messages: its path, or "fd N".
  [[nodiscard]] const std::string& description() const noexcept { return description_; }
  /// The seam the descriptor was opened through (and `in_netns` enters it through).
  [[nodiscard]] sys::Syscalls& syscalls() const noexcept { return fd_.sys(); }

 private:
  NetNs(sys::Syscalls& sys, int fd, std::string description) noexcept;

  detail::OwnedFd fd_;
  std::string description_;
};

namespace detail {

/// Runs `body(context)` on a new thread that first enters `ns` (setns(2) through the namespace's
/// seam) and then ends; waits for it. An exception from `body` is rethrown here.
/// @throws tunkit::Error when the thread cannot enter the namespace (nothing ran then);
///   std::system_error when no thread can be started.
TUNKIT_EXPORT void run_in_netns(const NetNs& ns, void (*body)(void*), void* context);

}  // namespace detail

/// Runs `fn()` inside the network namespace `ns` and returns its result, on a dedicated thread
/// that enters the namespace and ends afterwards: the calling thread (and every other one) stays
/// where it is. Whatever `fn` creates there (devices, sockets, a `Link`) stays in `ns` and works
/// from any thread. Exceptions from `fn` reach the caller. Thread-safe.
/// @throws tunkit::Error when the namespace cannot be entered, e.g. `tunkit: enter network
///   namespace "/run/netns/blue": operation not permitted (needs CAP_SYS_ADMIN ...)`; then `fn`
///   did not run.
///
/// @code
/// auto routes = tunkit::in_netns(ns, [] { return tunkit::Link::from_name("tun0").routes(); });
/// @endcode
template <typename F>
std::invoke_result_t<F&> in_netns(const NetNs& ns, F&& fn) {
  using Result = std::invoke_result_t<F&>;
  static_assert(!std::is_reference_v<Result>, "in_netns: fn must return a value, not a reference");
  using Fn = std::remove_reference_t<F>;  // may be const
  if constexpr (std::is_void_v<Result>) {
    detail::run_in_netns(
        ns, [](void* f) { (*static_cast<Fn*>(f))(); },
        const_cast<void*>(static_cast<const void*>(std::addressof(fn))));  // NOLINT: type erasure
  } else {
    struct Context {
      Fn* fn;
      std::optional<Result> result;
    } context{std::addressof(fn), std::nullopt};
    detail::run_in_netns(
        ns,
        [](void* c) {
          auto& ctx = *static_cast<Context*>(c);
          ctx.result.emplace((*ctx.fn)());
        },
        static_cast<void*>(&context));
    return std::move(*context.result);
  }
}

/// Creates (or attaches to) a TUN/TAP device inside the network namespace `ns`, through the seam
/// `ns` was opened with, without the calling thread ever entering it (see `in_netns`). The
/// descriptor keeps working from every thread; `ifindex()` is the index inside `ns`.
/// @throws tunkit::Error as `TunDevice::open`, or when `ns` cannot be entered.
[[nodiscard]] TUNKIT_EXPORT TunDevice open_in_netns(const NetNs& ns, const Options& options);
/// As above; on failure `ec` is set and the result is closed.
[[nodiscard]] TUNKIT_EXPORT TunDevice open_in_netns(const NetNs& ns, const Options& options,
                                                    std::error_code& ec) noexcept;

}  // namespace tunkit
