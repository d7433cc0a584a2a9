// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/openssl_handles.h"

#include <openssl/err.h>

namespace ccfde {

std::string drain_openssl_errors() {
  std::string text;
  unsigned long error = 0;
  while ((error = ERR_get_error()) != 0) {
    char buffer[256];
    ERR_error_string_n(error, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

Status openssl_error(ErrorCode code, std::string_view what) {
  std::string queue = drain_openssl_errors();
  if (queue.empty()) return Status(code, std::string(what));
  return Status(code, fmt::format("{} ({})", what, queue));
}

}  // namespace ccfde
