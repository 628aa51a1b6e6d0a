#pragma once
/// @file
/// `tunkit::detail::FlagSet`: the one shape of tunkit's typed flag sets (`TcpFlags`; the TUN flag
/// and offload sets of options.hpp have the same operations), written once.

#include <type_traits>

namespace tunkit::detail {

/// A set of the flags of `Enum`, an enumeration whose enumerators are single bits; the set is
/// those bits (`bits()`), so it converts to and from the raw field or ioctl value for free.
/// `Derived` is the set type itself (CRTP: the operations return it), which inherits the
/// constructors and adds what only it has:
///
/// @code
/// class TcpFlags : public detail::FlagSet<TcpFlags, TcpFlag> {
///  public:
///   using FlagSet::FlagSet;
/// };
/// @endcode
///
/// Cheap to copy; `constexpr` throughout.
template <class Derived, class Enum>
class FlagSet {
 public:
  /// The integer type of the raw bits (the enumeration's underlying type).
  using Bits = std::underlying_type_t<Enum>;

  /// The empty set.
  constexpr FlagSet() noexcept = default;
  /// The set of one flag (implicit, so that a flag is accepted where a set is).
  constexpr FlagSet(Enum flag) noexcept  // NOLINT(google-explicit-constructor)
      : bits_(static_cast<Bits>(flag)) {}

  /// Wraps raw bits (unknown bits are kept).
  [[nodiscard]] static constexpr Derived from_bits(Bits bits) noexcept {
    Derived set;
    static_cast<FlagSet&>(set).bits_ = bits;
    return set;
  }

  /// The raw bits.
  [[nodiscard]] constexpr Bits bits() const noexcept { return bits_; }
  /// True when every flag of `set` is set (so true for the empty `set`).
  [[nodiscard]] constexpr bool has(Derived set) const noexcept {
    return (bits_ & set.bits()) == set.bits();
  }
  /// True when no flag is set.
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }

  /// Adds the flags of `set`.
  constexpr Derived& operator|=(Derived set) noexcept {
    bits_ = static_cast<Bits>(bits_ | set.bits());
    return static_cast<Derived&>(*this);
  }
  /// Keeps only the flags also in `set`.
  constexpr Derived& operator&=(Derived set) noexcept {
    bits_ = static_cast<Bits>(bits_ & set.bits());
    return static_cast<Derived&>(*this);
  }
  /// The union of two sets.
  friend constexpr Derived operator|(Derived a, Derived b) noexcept { return a |= b; }
  /// The intersection of two sets.
  friend constexpr Derived operator&(Derived a, Derived b) noexcept { return a &= b; }
  /// The flags of `a` that are not in `b`.
  friend constexpr Derived operator-(Derived a, Derived b) noexcept {
    return from_bits(static_cast<Bits>(a.bits() & ~b.bits()));
  }
  /// Equal when the same bits are set.
  friend constexpr bool operator==(const FlagSet&, const FlagSet&) noexcept = default;

 private:
  Bits bits_ = 0;
};

}  // namespace tunkit::detail
