#pragma once
/// @file
/// Everything public in tunkit (the testing helpers live in <tunkit/testing/...>).

#include "tunkit/address.hpp"      // IWYU pragma: export
#include "tunkit/batch.hpp"        // IWYU pragma: export
#include "tunkit/checksum.hpp"     // IWYU pragma: export
#include "tunkit/device.hpp"       // IWYU pragma: export
#include "tunkit/error.hpp"        // IWYU pragma: export
#include "tunkit/format.hpp"       // IWYU pragma: export
#include "tunkit/link.hpp"         // IWYU pragma: export
#include "tunkit/link_events.hpp"  // IWYU pragma: export
#include "tunkit/mac.hpp"          // IWYU pragma: export
#include "tunkit/netns.hpp"        // IWYU pragma: export
#include "tunkit/offload.hpp"      // IWYU pragma: export
#include "tunkit/options.hpp"      // IWYU pragma: export
#include "tunkit/packet.hpp"       // IWYU pragma: export
#include "tunkit/queue.hpp"        // IWYU pragma: export
#include "tunkit/sys.hpp"          // IWYU pragma: export
#include "tunkit/tun_info.hpp"     // IWYU pragma: export
#include "tunkit/version.hpp"      // IWYU pragma: export
