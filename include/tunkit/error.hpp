#pragma once
/// @file
/// tunkit's error model.
///
/// - Setup operations (opening a device, configuring a link) throw `tunkit::Error`, a
///   `std::system_error` whose `what()` names the operation, the device and the cause in plain
///   words, with the fix where it is known:
///   `tunkit: TUNSETIFF "tun0": device busy (another process has it open without IFF_MULTI_QUEUE)`.
/// - Every operation also has an overload taking `std::error_code&` that never throws (Asio's
///   convention); the throwing overload calls it and throws on failure.
/// - Kernel failures carry `std::system_category()` codes (the errno); failures that tunkit itself
///   detects carry `tunkit::errc` codes in `tunkit::error_category()`.

#include <string>
#include <string_view>
#include <system_error>
#include "tunkit/export.hpp"

namespace tunkit {

/// Failures detected by tunkit itself (not reported by the kernel).
enum class errc {
  name_too_long = 1,    ///< interface name longer than 15 bytes (IFNAMSIZ - 1)
  invalid_name,         ///< interface name with '/', whitespace, ':' or more than one "%d"
  not_open,             ///< the object holds no descriptor (default-constructed, moved-from)
  packet_truncated,     ///< the packet was larger than the buffer; its tail was discarded
  interrupted,          ///< interrupt() was called; the wait or blocking I/O was abandoned
  too_many_buffers,     ///< more scatter/gather buffers than tunkit passes in one call
  feature_unsupported,  ///< the running kernel does not offer a requested feature
  invalid_address,      ///< an IP address or prefix that does not parse or is out of range
  netlink_protocol,     ///< the kernel's netlink answer was malformed or unexpected
  link_not_found,       ///< no interface with that name or index
  empty_packet,         ///< a write of zero bytes (the kernel would answer EINVAL)
  invalid_vnet_header,  ///< a virtio-net header that is invalid or does not fit its packet
  malformed_packet,     ///< a packet that cannot be segmented or coalesced (truncated, a fragment)
  gso_unsupported,      ///< a GSO type tunkit does not segment (UFO: IP fragmentation)
  output_too_small,     ///< too few or too small output buffers for the result
  batch_too_large,      ///< more packets in one call than the capacity chosen at construction
  out_of_range,         ///< a value outside the range the device accepts (e.g. the MTU); compares
                        ///< equal to `std::errc::invalid_argument`, the kernel's answer
  invalid_netns_name,   ///< a network namespace name that is no file name under /run/netns
                        ///< (empty, ".", "..", with '/'); `invalid_name` is an interface's
  not_a_queue,          ///< a descriptor given to adopt that is not an attached TUN/TAP queue
  handover_protocol,    ///< a hand-over message that is not one tunkit sent (tunkit/handover.hpp)
  unknown_feature,      ///< a device feature name the device does not report (tunkit/ethtool.hpp);
                        ///< compares equal to `std::errc::invalid_argument`
  feature_fixed,        ///< a device feature the driver does not let change
  invalid_filter,       ///< a filter expression libpcap cannot compile (tunkit/pcap.hpp)
  malformed_capture,    ///< a capture file that is not in the pcap format or is cut short
  invalid_program,      ///< a classic BPF program the kernel would refuse, or one that cannot
                        ///< run as eBPF (tunkit/ebpf.hpp); compares equal to
                        ///< `std::errc::invalid_argument`
};

/// The category of `tunkit::errc` codes; its name is "tunkit".
[[nodiscard]] TUNKIT_EXPORT const std::error_category& error_category() noexcept;

/// Makes a `std::error_code` from a `tunkit::errc` (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// The exception tunkit throws: a `std::system_error` (so `code()` is the errno or `tunkit::errc`)
/// whose `what()` is the complete, human-readable message, without the generic suffix that
/// `std::system_error` would otherwise append.
class TUNKIT_EXPORT Error : public std::system_error {
 public:
  /// `message` is the complete text returned by what().
  Error(std::error_code code, std::string message);
  /// The complete message given to the constructor.
  [[nodiscard]] const char* what() const noexcept override;

 private:
  std::string message_;
};

/// Makes the exception tunkit throws: `what()` is `tunkit: OP "DEVICE": cause (hint)`, the
/// device part left out when `device` is empty and the hint part when `hint` is. The cause is
/// the code's meaning in plain, lower-case words ("device busy"). For code that wraps tunkit and
/// wants its own failures to read alike, and for fakes in tests.
///
/// @code
/// throw tunkit::make_error(std::make_error_code(std::errc::device_or_resource_busy),
///                          "TUNSETIFF", "tun0", "another process has it open");
/// // what(): tunkit: TUNSETIFF "tun0": device busy (another process has it open)
/// @endcode
[[nodiscard]] TUNKIT_EXPORT Error make_error(std::error_code code, std::string_view op,
                                             std::string_view device = {},
                                             std::string_view hint = {});

}  // namespace tunkit

template <>
struct std::is_error_code_enum<tunkit::errc> : std::true_type {};
