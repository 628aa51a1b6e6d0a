// `tunkit create`'s steps, over the syscall seam so that a fake-kernel test
// (tests/unit/tunkit_cli_text_test.cpp) checks their order.
#pragma once

#include <fmt/format.h>
#include <tunkit/tunkit.hpp>

#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace tunkit_cli {

/// What `tunkit create` was asked for.
struct CreatePlan {
  tunkit::Options options;  ///< name, mode, flags, owner, group (persist is set by create_device)
  std::optional<unsigned> mtu;
  std::vector<tunkit::IpPrefix> addresses;
  bool up = false;
};

/// Creates the device of `plan` (never taking over one that exists: IFF_TUN_EXCL), sets its
/// owner and group (at open), MTU, addresses and up, and, with `persist`, only then makes it
/// persistent, its last step. Until then the device belongs to the returned object's
/// descriptors: a failed step (the exception propagates), a signal or a crash closes them and
/// the kernel deletes the device, so no half-configured persistent device is ever left behind.
/// @throws tunkit::Error from the step that failed; when it failed after the device was
/// created, its message ends with "; NAME was removed again" (the device is gone by the time
/// the exception reaches the caller).
inline tunkit::TunDevice create_configured(const CreatePlan& plan, bool persist,
                                           tunkit::sys::Syscalls& sys = tunkit::sys::real()) {
  tunkit::Options options = plan.options;
  options.persist = false;   // set last, below
  options.exclusive = true;  // never take over a device that exists
  tunkit::TunDevice dev(options, sys);
  try {
    tunkit::Link link(dev.ifindex(), sys);
    if (plan.mtu) link.set_mtu(*plan.mtu);
    for (const auto& p : plan.addresses)
      link.add_address(p);
    if (plan.up) link.set_up();
    if (persist) dev.set_persist(true);
  } catch (const tunkit::Error& e) {
    // `dev` closes while this propagates: the kernel deletes the device, never persistent yet.
    throw tunkit::Error(e.code(), fmt::format("{}; {} was removed again", e.what(), dev.name()));
  }
  return dev;
}

/// `tunkit create`: `create_configured` with persist; returns the device's name.
inline std::string create_device(const CreatePlan& plan,
                                 tunkit::sys::Syscalls& sys = tunkit::sys::real()) {
  return create_configured(plan, true, sys).name();
}

}  // namespace tunkit_cli
