// SPDX-License-Identifier: Apache-2.0
// Test-only crash injection (binding.h): fault_point(name) raises SIGKILL when the build has
// CCFDE_FAULT_INJECTION and the environment variable CCFDE_FAULT_POINT equals `name`.
#pragma once

#include <string_view>

namespace ccfde::agent::binding {

// A step boundary called `name`, which must be one of fault_point_names().
void fault_point(std::string_view name) noexcept;

}  // namespace ccfde::agent::binding
