#pragma once
// tunkit 0.1 path, kept for 0.2: use <tunkit/packet/checksum.hpp>
#include "tunkit/packet/checksum.hpp"  // IWYU pragma: export
