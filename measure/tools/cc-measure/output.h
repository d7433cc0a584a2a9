// SPDX-License-Identifier: Apache-2.0
// How cc-measure prints: JSON (--json) or an indented human-readable rendering of the same
// document, and the mapping from errors to exit statuses.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/status.h"

namespace ccfde::cc_measure {

// Exit statuses of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;  // evidence was read but a check refused it
inline constexpr int kExitError = 2;        // bad input, unreadable file, platform error

// 1 for codes that mean "a check failed" (signatures, chains, policy, register mismatch), else 2.
int exit_status_for(const Status& status);

// Prints `document` to stdout, as JSON when `json` is set, else as indented "key: value" text.
void print_document(const nlohmann::json& document, bool json);

// Prints the error to stderr ("cc-measure: <code>: <message>"), or as a JSON object on stdout
// with --json, and returns its exit status.
int report_error(const Status& status, bool json);

}  // namespace ccfde::cc_measure
