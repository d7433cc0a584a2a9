// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/confdata.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/crypto.h>

#include <string>
#include <vector>

#include "toml_parser.h"

namespace ccfde::kbs_client {
namespace {

// Overwrites every string value below `node`: the parsed document holds copies of the secrets
// that would otherwise be freed unwiped with it.
void wipe_strings(toml::node& node) {
  if (auto* text = node.as_string()) {
    std::string& value = text->get();
    OPENSSL_cleanse(value.data(), value.size());
    return;
  }
  if (auto* table = node.as_table()) {
    for (auto&& [name, child] : *table) wipe_strings(child);
    return;
  }
  if (auto* array = node.as_array()) {
    for (toml::node& child : *array) wipe_strings(child);
  }
}

class WipeOnExit {
 public:
  explicit WipeOnExit(toml::table& table) : table_(table) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() { wipe_strings(table_); }

 private:
  toml::table& table_;
};

// A [data] key name for a message: names are not secret, but may hold anything.
std::string shown_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte >= 0x20 && byte < 0x7F) ? std::string(1, c) : fmt::format("\\x{:02x}", byte);
  }
  return out;
}

}  // namespace

Result<SecretBytes> parse_confdata_key(std::span<const std::uint8_t> document,
                                       std::string_view key_name) {
  const std::string_view text(reinterpret_cast<const char*>(document.data()), document.size());
  if (text.size() > kMaxConfdataSize) {
    return make_error(ErrorCode::kInvalidArgument, "confdata: {} bytes, more than the {} allowed",
                      text.size(), kMaxConfdataSize);
  }
  if (text.find('\0') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "confdata: the document holds a NUL byte");
  }
  toml::table parsed;
  try {
    parsed = toml::parse(text, std::string_view("confdata"));
  } catch (const toml::parse_error& error) {
    // toml++'s description can quote the offending characters, which may be the key's.
    return make_error(ErrorCode::kMalformed, "confdata: not TOML at line {}, column {}",
                      error.source().begin.line, error.source().begin.column);
  }
  const WipeOnExit wipe(parsed);

  const toml::node* version = parsed.get("version");
  if (version == nullptr) {
    return make_error(ErrorCode::kMalformed, "confdata: member \"version\" is missing");
  }
  if (!version->is_string()) {
    return make_error(ErrorCode::kMalformed, "confdata: member \"version\" must be a string");
  }
  if (version->as_string()->get() != kConfdataVersion) {
    return make_error(ErrorCode::kMalformed, "confdata: version \"{}\" is not \"{}\"",
                      shown_name(version->as_string()->get()), kConfdataVersion);
  }
  toml::node* data_node = parsed.get("data");
  if (data_node == nullptr) {
    return make_error(ErrorCode::kMalformed, "confdata: the [data] table is missing");
  }
  toml::table* data = data_node->as_table();
  if (data == nullptr) {
    return make_error(ErrorCode::kMalformed, "confdata: \"data\" must be a table");
  }
  toml::node* entry = data->get(key_name);
  if (entry == nullptr) {
    std::vector<std::string> names;
    for (auto&& [name, value] : *data) names.push_back(shown_name(name.str()));
    return make_error(ErrorCode::kMalformed, "confdata: [data] has no \"{}\" (it has: {})",
                      shown_name(key_name),
                      names.empty() ? "nothing" : fmt::to_string(fmt::join(names, ", ")));
  }
  auto* value = entry->as_string();
  if (value == nullptr) {
    return make_error(ErrorCode::kMalformed, "confdata: [data] \"{}\" must be a string",
                      shown_name(key_name));
  }
  const std::string& secret = value->get();
  if (secret.empty()) {
    return make_error(ErrorCode::kMalformed, "confdata: [data] \"{}\" is empty",
                      shown_name(key_name));
  }
  return SecretBytes::copy_of(
      std::span(reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()));
}

}  // namespace ccfde::kbs_client
