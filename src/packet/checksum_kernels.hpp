#pragma once
// The loops that sum bytes for the internet checksum, written once: summing alone (behind
// `Checksum::add`) and copying while summing (for the offload engine: GSO split and GRO coalesce
// both copy every payload byte and need its checksum, and reading the bytes once instead of
// twice, memcpy then sum, is most of the difference in throughput).

#include <cstddef>
#include <cstdint>

namespace tunkit::detail {

/// The one's-complement sum of `n` bytes at `p` folded to 16 bits (not complemented), as a
/// host-order value of a network-order word: what `Checksum().add(bytes).fold()` gives. Any
/// alignment.
[[nodiscard]] std::uint16_t ones_sum(const std::byte* p, std::size_t n) noexcept;

/// Copies `n` bytes from `src` to `dst` (which must not overlap) and returns their sum as
/// `ones_sum` does. Any alignment.
[[nodiscard]] std::uint16_t copy_and_sum(std::byte* dst, const std::byte* src,
                                         std::size_t n) noexcept;

/// The portable implementation of `copy_and_sum` (exposed for tests; `copy_and_sum` picks a
/// vectorised one where the CPU has it).
[[nodiscard]] std::uint16_t copy_and_sum_portable(std::byte* dst, const std::byte* src,
                                                  std::size_t n) noexcept;

}  // namespace tunkit::detail
