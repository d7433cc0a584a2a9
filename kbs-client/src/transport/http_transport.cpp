// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/http_transport.h"

#include <algorithm>

namespace ccfde::kbs_client {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& entry : headers) {
    if (equals_ignore_case(entry.name, name)) return entry.value;
  }
  return std::nullopt;
}

}  // namespace ccfde::kbs_client
