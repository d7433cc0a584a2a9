// SPDX-License-Identifier: Apache-2.0
// Shared between the report backends.
#pragma once

#include "ccfde/agent/logging.h"

namespace ccfde::agent {

// The level an event is reported at: kError for failures, kInfo otherwise.
LogLevel report_level(const StageEvent& event);
LogLevel report_level(const VolumeEvent& event);

}  // namespace ccfde::agent
