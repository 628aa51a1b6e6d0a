#pragma once
// Copy and checksum in one pass over the bytes, for the offload engine: GSO split and GRO
// coalesce both copy every payload byte and need its internet checksum, and reading the bytes
// once instead of twice (memcpy, then sum) is most of the difference in throughput.

#include <cstddef>
#include <cstdint>

namespace tunkit::detail {

/// Copies `n` bytes from `src` to `dst` (which must not overlap) and returns the one's-complement
/// sum of those bytes folded to 16 bits (not complemented), as a host-order value of a
/// network-order word: the value `Checksum().add(bytes).fold()` would give. Any alignment.
[[nodiscard]] std::uint16_t copy_and_sum(std::byte* dst, const std::byte* src,
                                         std::size_t n) noexcept;

/// The portable implementation of `copy_and_sum` (exposed for tests; `copy_and_sum` picks a
/// vectorised one where the CPU has it).
[[nodiscard]] std::uint16_t copy_and_sum_portable(std::byte* dst, const std::byte* src,
                                                  std::size_t n) noexcept;

}  // namespace tunkit::detail
