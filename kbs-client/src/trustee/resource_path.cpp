// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/resource_path.h"

#include <fmt/format.h>

#include <array>

namespace ccfde::kbs_client {
namespace {

bool allowed_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// One character for a message: itself when printable ASCII, else "\xNN".
std::string shown(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return std::string(1, c);
  return fmt::format("\\x{:02x}", byte);
}

// `text` for a message, every character shown as above.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) out += shown(c);
  return out;
}

Status check_segment(std::string_view text, std::string_view segment, std::size_t offset,
                     std::string_view name) {
  if (segment.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource path \"{}\": the {} segment (at offset {}) is empty; expected "
                      "<repository>/<type>/<tag>",
                      printable(text), name, offset);
  }
  if (segment.front() == '.') {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource path \"{}\": the {} segment \"{}\" starts with '.' (offset {})",
                      printable(text), name, printable(segment), offset);
  }
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (!allowed_character(segment[i])) {
      return make_error(ErrorCode::kInvalidArgument,
                        "resource path \"{}\": the {} segment has the character \"{}\" at offset "
                        "{}; allowed are A-Z a-z 0-9 _ - .",
                        printable(text), name, shown(segment[i]), offset + i);
    }
  }
  return Status::ok_status();
}

}  // namespace

std::string_view plugin_name(KbsPlugin plugin) {
  switch (plugin) {
    case KbsPlugin::kResource: return "resource";
    case KbsPlugin::kProvisioner: return "provisioner";
  }
  return "unknown";
}

Result<KbsPlugin> parse_plugin_name(std::string_view text) {
  for (const KbsPlugin plugin : {KbsPlugin::kResource, KbsPlugin::kProvisioner}) {
    if (text == plugin_name(plugin)) return plugin;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown Trustee plugin \"{}\"; known are \"resource\" and \"provisioner\"",
                    printable(text));
}

std::string ResourcePath::to_string() const {
  return repository + "/" + type + "/" + tag;
}

std::string ResourcePath::url_path() const {
  return fmt::format("{}/{}", plugin_name(plugin), to_string());
}

std::string ResourcePath::uri() const {
  if (plugin == KbsPlugin::kResource) return "kbs:///" + to_string();
  return fmt::format("kbs+{}:///{}", plugin_name(plugin), to_string());
}

Result<ResourcePath> parse_resource_path(KbsPlugin plugin, std::string_view text) {
  CCFDE_ASSIGN_OR_RETURN(ResourcePath path, parse_resource_path(text));
  path.plugin = plugin;
  return path;
}

Result<ResourcePath> parse_resource_uri(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource URI \"{}\": no scheme; expected kbs:///<repository>/<type>/<tag> "
                      "or kbs+<plugin>:///<repository>/<type>/<tag>",
                      printable(text));
  }
  const std::string_view scheme = text.substr(0, colon);
  KbsPlugin plugin = KbsPlugin::kResource;
  if (scheme != "kbs") {
    static constexpr std::string_view kPrefix = "kbs+";
    if (!scheme.starts_with(kPrefix)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "resource URI \"{}\": the scheme \"{}\" is neither kbs nor kbs+<plugin>",
                        printable(text), printable(scheme));
    }
    auto parsed = parse_plugin_name(scheme.substr(kPrefix.size()));
    if (!parsed.ok())
      return parsed.status().with_context(fmt::format("resource URI \"{}\"", printable(text)));
    plugin = *parsed;
  }
  const std::string_view rest = text.substr(colon + 1);
  static constexpr std::string_view kNoHost = "///";
  if (!rest.starts_with(kNoHost)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource URI \"{}\": expected \"///\" after the scheme (no host part)",
                      printable(text));
  }
  auto path = parse_resource_path(plugin, rest.substr(kNoHost.size()));
  if (!path.ok())
    return path.status().with_context(fmt::format("resource URI \"{}\"", printable(text)));
  return path;
}

Result<ResourcePath> parse_resource_path(std::string_view text) {
  static constexpr std::array<std::string_view, 3> kNames = {"repository", "type", "tag"};
  std::array<std::string_view, 3> segments;
  std::array<std::size_t, 3> offsets{};
  std::size_t count = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = text.find('/', start);
    const std::string_view segment = text.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (count < segments.size()) {
      segments[count] = segment;
      offsets[count] = start;
    }
    ++count;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (count != segments.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "resource path \"{}\": expected 3 '/'-separated segments "
                      "<repository>/<type>/<tag>, found {}",
                      printable(text), count);
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    CCFDE_RETURN_IF_ERROR(check_segment(text, segments[i], offsets[i], kNames[i]));
  }
  return ResourcePath{std::string(segments[0]), std::string(segments[1]), std::string(segments[2])};
}

}  // namespace ccfde::kbs_client
