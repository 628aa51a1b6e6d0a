#pragma once
/// @file
/// Everything public in tunkit, except the optional parts that need other libraries or targets:
/// the Asio adapter (<tunkit/asio.hpp>, target tunkit::asio) and the testing helpers
/// (<tunkit/testing/...>, target tunkit::testing).

#include "tunkit/address.hpp"      // IWYU pragma: export
#include "tunkit/batch.hpp"        // IWYU pragma: export
#include "tunkit/device.hpp"       // IWYU pragma: export
#include "tunkit/ebpf.hpp"         // IWYU pragma: export
#include "tunkit/error.hpp"        // IWYU pragma: export
#include "tunkit/ethtool.hpp"      // IWYU pragma: export
#include "tunkit/format.hpp"       // IWYU pragma: export
#include "tunkit/handover.hpp"     // IWYU pragma: export
#include "tunkit/link.hpp"         // IWYU pragma: export
#include "tunkit/link_events.hpp"  // IWYU pragma: export
#include "tunkit/mac.hpp"          // IWYU pragma: export
#include "tunkit/netns.hpp"        // IWYU pragma: export
#include "tunkit/offload.hpp"      // IWYU pragma: export (vnet.hpp, offload/*.hpp)
#include "tunkit/options.hpp"      // IWYU pragma: export
#include "tunkit/packet.hpp"       // IWYU pragma: export (packet/*.hpp, checksums included)
#include "tunkit/queue.hpp"        // IWYU pragma: export
#include "tunkit/result.hpp"       // IWYU pragma: export
#include "tunkit/sys.hpp"          // IWYU pragma: export
#include "tunkit/tun_info.hpp"     // IWYU pragma: export
#include "tunkit/version.hpp"      // IWYU pragma: export
