#pragma once
/// @file
/// tunkit 0.1 path, kept for 0.2: use <tunkit/tun_info.hpp>.

// tunkit 0.1 path, kept for 0.2: use <tunkit/tun_info.hpp>
#include "tunkit/tun_info.hpp"  // IWYU pragma: export
