// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/init_data.h"

#include <fmt/format.h>

#include <algorithm>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "toml_parser.h"

namespace ccfde::kbs_client {
namespace {

constexpr std::string_view kVersion = "0.1.0";

Result<DigestAlgorithm> init_data_algorithm(std::string_view name) {
  // Trustee deserialises the name with serde's lowercase names (kbs-types HashAlgorithm), so
  // "SHA384" or "sha-384" fail there: they fail here too.
  if (name == "sha256") return DigestAlgorithm::kSha256;
  if (name == "sha384") return DigestAlgorithm::kSha384;
  if (name == "sha512") return DigestAlgorithm::kSha512;
  return make_error(ErrorCode::kUnsupportedAlgorithm,
                    "init-data: algorithm \"{}\" is not sha256, sha384 or sha512", name);
}

Result<std::string> string_member(const toml::table& table, std::string_view key) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    return make_error(ErrorCode::kMalformed, "init-data: member \"{}\" is missing", key);
  }
  const auto* value = node->as_string();
  if (value == nullptr) {
    return make_error(ErrorCode::kMalformed, "init-data: member \"{}\" must be a string (line {})",
                      key, node->source().begin.line);
  }
  return value->get();
}

}  // namespace

Result<InitData> parse_init_data(std::string_view toml_body) {
  if (toml_body.size() > kMaxInitDataSize) {
    return make_error(ErrorCode::kInvalidArgument, "init-data: {} bytes, more than the {} allowed",
                      toml_body.size(), kMaxInitDataSize);
  }
  if (toml_body.find('\0') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "init-data: the document holds a NUL byte");
  }
  toml::table document;
  try {
    document = toml::parse(toml_body, std::string_view("init-data"));
  } catch (const toml::parse_error& error) {
    return make_error(ErrorCode::kMalformed, "init-data: not TOML at line {}, column {}: {}",
                      error.source().begin.line, error.source().begin.column, error.description());
  }
  InitData init_data;
  init_data.body = std::string(toml_body);
  CCFDE_ASSIGN_OR_RETURN(init_data.version, string_member(document, "version"));
  if (init_data.version != kVersion) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "init-data: version \"{}\" (only \"{}\" is defined)",
                      escape_nonprintable(init_data.version), kVersion);
  }
  CCFDE_ASSIGN_OR_RETURN(const std::string algorithm, string_member(document, "algorithm"));
  CCFDE_ASSIGN_OR_RETURN(init_data.algorithm, init_data_algorithm(algorithm));
  const toml::node* data = document.get("data");
  if (data == nullptr || !data->is_table()) {
    return make_error(ErrorCode::kMalformed, "init-data: member \"data\" must be a table");
  }
  for (const auto& [key, value] : *data->as_table()) {
    const auto* text = value.as_string();
    if (text == nullptr) {
      return make_error(ErrorCode::kMalformed,
                        "init-data: data member \"{}\" must be a string (line {})",
                        escape_nonprintable(key.str()), value.source().begin.line);
    }
    init_data.data.emplace(std::string(key.str()), text->get());
  }
  return init_data;
}

Result<InitData> read_init_data_file(const std::filesystem::path& path) {
  const std::string context = "init-data " + path.string();
  auto bytes = read_file(path, kMaxInitDataSize);
  if (!bytes.ok()) return bytes.status().with_context(context);
  auto init_data = parse_init_data(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!init_data.ok()) return init_data.status().with_context(context);
  return init_data;
}

Result<std::vector<std::uint8_t>> init_data_register_value(const InitData& init_data,
                                                           std::size_t register_size) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(init_data.body.data());
  CCFDE_ASSIGN_OR_RETURN(
      auto value,
      digest(init_data.algorithm, std::span<const std::uint8_t>(bytes, init_data.body.size())));
  value.resize(register_size, 0);
  return value;
}

Status check_init_data_binding(const InitData& init_data,
                               std::span<const std::uint8_t> register_value,
                               std::string_view register_name) {
  CCFDE_ASSIGN_OR_RETURN(const auto expected,
                         init_data_register_value(init_data, register_value.size()));
  if (!std::equal(expected.begin(), expected.end(), register_value.begin(), register_value.end())) {
    return make_error(ErrorCode::kMeasurementMismatch,
                      "init-data: its {} digest is {}, but {} holds {}",
                      digest_name(init_data.algorithm), hex_encode(expected), register_name,
                      hex_encode(register_value));
  }
  return Status::ok_status();
}

}  // namespace ccfde::kbs_client
