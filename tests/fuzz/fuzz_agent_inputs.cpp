// SPDX-License-Identifier: Apache-2.0
// Fuzzes the agent's parsers of untrusted text: the cc-fde LUKS2 token JSON (written by whoever
// controls the disk), the configuration file, crypttab and the kernel command line. Every input
// goes to every parser; a token that parses must re-serialise to the same token.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ccfde/agent/config.h"
#include "ccfde/agent/crypttab.h"
#include "ccfde/agent/token.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ccfde::agent;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto token = parse_token(text); token.ok()) {
    auto json = token_to_json(*token);
    if (!json.ok()) std::abort();
    auto again = parse_token(*json);
    if (!again.ok() || !(*again == *token)) std::abort();
  }
  if (auto config = parse_config(text, "fuzz"); config.ok()) {
    (void)config->profile("default");
  }
  if (auto entries = parse_crypttab(text, "fuzz"); entries.ok()) {
    for (const auto& entry : *entries) (void)entry.option_value("keyscript");
  }
  // Almost any text is a kernel command line; overrides are applied to a copy of one base
  // configuration parsed once.
  static const auto base = parse_config(R"({"version":1,"profiles":{"default":{
      "url":"https://127.0.0.1:8080","ca_file":"/etc/cc-fde/ca.pem","resources":["default/*"]}}})",
                                        "fuzz-base");
  if (!base.ok()) std::abort();
  if (auto cmdline = parse_kernel_command_line(text); cmdline.ok()) {
    AgentConfig config = *base;
    (void)apply_kernel_command_line(*cmdline, config);
  }
  return 0;
}
