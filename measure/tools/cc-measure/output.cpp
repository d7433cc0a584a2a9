// SPDX-License-Identifier: Apache-2.0
#include "output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace ccfde::cc_measure {
namespace {

std::string scalar_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool is_scalar_array(const nlohmann::json& value) {
  return value.is_array() && std::none_of(value.begin(), value.end(), [](const auto& element) {
           return element.is_structured();
         });
}

void render(const nlohmann::json& value, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      if (member.is_structured() && !(is_scalar_array(member) && member.size() <= 8)) {
        out += fmt::format("{}{}:{}\n", pad, key, member.empty() ? " (none)" : "");
        render(member, indent + 1, out);
      } else if (member.is_array()) {
        std::string joined;
        for (const auto& element : member) {
          joined += (joined.empty() ? "" : ", ") + scalar_text(element);
        }
        out += fmt::format("{}{}: [{}]\n", pad, key, joined);
      } else if (member.is_string() && member.get<std::string>().find('\n') != std::string::npos) {
        // Multi-line text (a PEM chain): a block indented under its key.
        out += fmt::format("{}{}: |\n", pad, key);
        std::string_view text = member.get_ref<const std::string&>();
        while (!text.empty()) {
          const std::size_t end = text.find('\n');
          const std::string_view line = text.substr(0, end);
          if (!line.empty() &&
              line.find_first_not_of(std::string_view("\0", 1)) != std::string_view::npos) {
            out += fmt::format("{}  {}\n", pad, line);
          }
          if (end == std::string_view::npos) break;
          text.remove_prefix(end + 1);
        }
      } else {
        out += fmt::format("{}{}: {}\n", pad, key, scalar_text(member));
      }
    }
  } else if (value.is_array()) {
    std::size_t index = 0;
    for (const auto& element : value) {
      if (element.is_structured()) {
        out += fmt::format("{}[{}]\n", pad, index);
        render(element, indent + 1, out);
      } else {
        out += fmt::format("{}- {}\n", pad, scalar_text(element));
      }
      ++index;
    }
  } else {
    out += pad + scalar_text(value) + "\n";
  }
}

}  // namespace

int exit_status_for(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk: return kExitOk;
    case ErrorCode::kSignatureInvalid:
    case ErrorCode::kCertificateInvalid:
    case ErrorCode::kCertificateExpired:
    case ErrorCode::kCertificateRevoked:
    case ErrorCode::kCollateralExpired:
    case ErrorCode::kCollateralMismatch:
    case ErrorCode::kUntrustedRoot:
    case ErrorCode::kPolicyViolation:
    case ErrorCode::kMeasurementMismatch: return kExitCheckFailed;
    default: return kExitError;
  }
}

void print_document(const nlohmann::json& document, bool json) {
  std::string text;
  if (json) {
    // The library escapes text from untrusted bytes; replacing stays as a second line of defence.
    text = document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    render(document, 0, text);
  }
  // A failed write is caught by main, which checks stdout once before exiting.
  static_cast<void>(std::fwrite(text.data(), 1, text.size(), stdout));
  static_cast<void>(std::fflush(stdout));
}

int report_error(const Status& status, bool json) {
  if (json) {
    nlohmann::json error = {
        {"error",
         {{"code", std::string(error_code_name(status.code()))}, {"message", status.message()}}}};
    if (status.sys_errno() != 0) error["error"]["errno"] = status.sys_errno();
    print_document(error, true);
  }
  std::fprintf(stderr, "cc-measure: %s\n", status.to_string().c_str());
  return exit_status_for(status);
}

}  // namespace ccfde::cc_measure
