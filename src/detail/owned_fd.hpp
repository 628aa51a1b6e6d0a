#pragma once
// Moved: the owned-descriptor type is installed, since public classes hold it.
#include "tunkit/detail/owned_fd.hpp"
