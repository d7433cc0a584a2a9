// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "ccfde/agent/config_checks.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"

namespace ccfde::agent {
namespace {

using nlohmann::json;
using Path = std::vector<std::string>;
namespace checks = config_checks;

constexpr std::size_t kMaxConfigSize = std::size_t{1} << 20;
constexpr std::int64_t kSchemaVersion = 1;

std::string json_pointer(const Path& path) {
  if (path.empty()) return "(document)";
  std::string out;
  for (const std::string& token : path) {
    out += '/';
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return escape_nonprintable(out);
}

// Walks valid JSON text to the member or element a pointer names, for the line of an error.
// Keys are compared as they appear between the quotes (the schema's keys need no escapes); of
// duplicate keys the last counts, as in the parsed document.
class Locator {
 public:
  explicit Locator(std::string_view text) : text_(text) {}

  // The offset of the deepest item of `path` that exists (the key of a member, the start of an
  // element); 0 for the document.
  std::size_t offset_of(const Path& path) {
    std::size_t best = 0;
    pos_ = 0;
    for (const std::string& token : path) {
      skip_space();
      if (pos_ >= text_.size()) break;
      std::optional<std::size_t> item;
      std::optional<std::size_t> value;
      if (text_[pos_] == '{') {
        ++pos_;
        for (;;) {
          skip_space();
          if (pos_ >= text_.size() || text_[pos_] != '"') break;
          const std::size_t key_offset = pos_;
          const std::string_view key = read_string();
          skip_space();
          if (pos_ < text_.size() && text_[pos_] == ':') ++pos_;
          skip_space();
          if (key == token) {
            item = key_offset;
            value = pos_;
          }
          skip_value();
          skip_space();
          if (pos_ >= text_.size() || text_[pos_] != ',') break;
          ++pos_;
        }
      } else if (text_[pos_] == '[') {
        ++pos_;
        std::size_t index = 0;
        for (;;) {
          skip_space();
          if (pos_ >= text_.size() || text_[pos_] == ']') break;
          if (std::to_string(index) == token) {
            item = value = pos_;
            break;
          }
          skip_value();
          skip_space();
          if (pos_ >= text_.size() || text_[pos_] != ',') break;
          ++pos_;
          ++index;
        }
      }
      if (!item) break;
      best = *item;
      pos_ = *value;
    }
    return best;
  }

  std::size_t line_of(const Path& path) {
    const std::size_t offset = std::min(offset_of(path), text_.size());
    return 1 + static_cast<std::size_t>(
                   std::count(text_.begin(), text_.begin() + static_cast<long>(offset), '\n'));
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  // At an opening quote: returns the raw text between the quotes and moves past the closing one.
  std::string_view read_string() {
    const std::size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != '"')
      pos_ += text_[pos_] == '\\' ? std::size_t{2} : std::size_t{1};
    const std::size_t end = std::min(pos_, text_.size());
    if (pos_ < text_.size()) ++pos_;
    return text_.substr(start, end - start);
  }

  void skip_value() {
    skip_space();
    if (pos_ >= text_.size()) return;
    if (text_[pos_] == '"') {
      read_string();
      return;
    }
    if (text_[pos_] != '{' && text_[pos_] != '[') {
      while (pos_ < text_.size() &&
             std::string_view(",}] \t\r\n").find(text_[pos_]) == std::string_view::npos)
        ++pos_;
      return;
    }
    int depth = 0;
    do {
      const char c = text_[pos_];
      if (c == '"') {
        read_string();
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++pos_;
    } while (pos_ < text_.size() && depth > 0);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// Records the first duplicate key while nlohmann parses (it would silently keep the last one).
class DuplicateFinder {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        next_element();
        stack_.push_back(Frame{true, {}, {}, 0, false});
        break;
      case json::parse_event_t::array_start:
        next_element();
        stack_.push_back(Frame{false, {}, {}, 0, false});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack_.empty()) stack_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!stack_.empty() && parsed.is_string()) {
          Frame& frame = stack_.back();
          frame.key = parsed.get<std::string>();
          if (!frame.keys.insert(frame.key).second && !duplicate) duplicate = path();
        }
        break;
      case json::parse_event_t::value: next_element(); break;
    }
    return true;
  }

  std::optional<Path> duplicate;

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;
    std::size_t index;
    bool started;
  };

  void next_element() {
    if (stack_.empty() || stack_.back().object) return;
    Frame& frame = stack_.back();
    if (frame.started) ++frame.index;
    frame.started = true;
  }

  Path path() const {
    Path out;
    for (const Frame& frame : stack_)
      out.push_back(frame.object ? frame.key : std::to_string(frame.index));
    return out;
  }

  std::vector<Frame> stack_;
};

class Checker {
 public:
  Checker(std::string_view text, std::string_view origin) : locator_(text), origin_(origin) {}

  Status error(const Path& path, std::string_view what) {
    return make_error(ErrorCode::kConfigInvalid, "{}:{}: {}: {}", origin_, locator_.line_of(path),
                      json_pointer(path), what);
  }

  static Path child(const Path& path, std::string_view key) {
    Path out = path;
    out.emplace_back(key);
    return out;
  }

  Status allowed_keys(const json& object, const Path& path,
                      std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, value] : object.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (std::string_view name : allowed)
          list += (list.empty() ? "" : ", ") + std::string(name);
        return error(child(path, key), fmt::format("unknown key (allowed: {})", list));
      }
    }
    return Status::ok_status();
  }

  // The member `key` of `object`; nullptr when absent and not required.
  Result<const json*> member(const json& object, const Path& path, std::string_view key,
                             bool required) {
    const auto it = object.find(key);
    if (it == object.end()) {
      if (required) return error(path, fmt::format("missing required key \"{}\"", key));
      return static_cast<const json*>(nullptr);
    }
    return &*it;
  }

  Status expect_type(const json& value, const Path& path, json::value_t type,
                     std::string_view name) {
    const bool matches =
        type == json::value_t::number_integer ? value.is_number_integer() : value.type() == type;
    if (!matches) return error(path, fmt::format("expected {}, found {}", name, value.type_name()));
    return Status::ok_status();
  }

  Result<std::string> string_value(const json& value, const Path& path) {
    CCFDE_RETURN_IF_ERROR(expect_type(value, path, json::value_t::string, "a string"));
    return value.get<std::string>();
  }

  Result<bool> bool_value(const json& value, const Path& path) {
    CCFDE_RETURN_IF_ERROR(expect_type(value, path, json::value_t::boolean, "true or false"));
    return value.get<bool>();
  }

  Result<std::int64_t> integer_value(const json& value, const Path& path, std::int64_t min,
                                     std::int64_t max) {
    CCFDE_RETURN_IF_ERROR(expect_type(value, path, json::value_t::number_integer, "an integer"));
    const bool too_big =
        value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(max);
    if (too_big || value.get<std::int64_t>() < min || value.get<std::int64_t>() > max) {
      return error(path, fmt::format("{} is out of range ({} to {})", value.dump(), min, max));
    }
    return value.get<std::int64_t>();
  }

  Result<std::chrono::seconds> seconds_value(const json& value, const Path& path) {
    CCFDE_ASSIGN_OR_RETURN(
        const std::int64_t s,
        integer_value(value, path, checks::kMinTimeoutSeconds, checks::kMaxTimeoutSeconds));
    return std::chrono::seconds(s);
  }

  Result<std::filesystem::path> path_value(const json& value, const Path& path) {
    CCFDE_ASSIGN_OR_RETURN(const std::string text, string_value(value, path));
    if (const std::string problem = checks::check_absolute_path(text); !problem.empty())
      return error(path, fmt::format("\"{}\": {}", escape_nonprintable(text), problem));
    return std::filesystem::path(text);
  }

 private:
  Locator locator_;
  std::string origin_;
};

Status parse_profile(Checker& c, const std::string& name, const json& value, const Path& path,
                     BrokerProfile& profile) {
  if (const std::string problem = checks::check_profile_name(name); !problem.empty())
    return c.error(path, problem);
  CCFDE_RETURN_IF_ERROR(c.expect_type(value, path, json::value_t::object, "an object"));
  CCFDE_RETURN_IF_ERROR(c.allowed_keys(
      value, path,
      {"protocol", "url", "ca_file", "pins", "client_certificate", "client_key", "proxy",
       "connect_timeout_s", "request_timeout_s", "admin_token_file", "resources"}));
  profile.name = name;
  const auto at = [&](std::string_view key) { return Checker::child(path, key); };

  CCFDE_ASSIGN_OR_RETURN(const json* protocol, c.member(value, path, "protocol", false));
  if (protocol != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(const std::string text, c.string_value(*protocol, at("protocol")));
    if (text == "trustee") {
      profile.protocol = BrokerProtocol::kTrustee;
    } else if (text == "ita") {
      profile.protocol = BrokerProtocol::kIta;
    } else {
      return c.error(at("protocol"), fmt::format("unknown protocol \"{}\" (trustee or ita)",
                                                 escape_nonprintable(text)));
    }
  }
  // "url": one address, or a list of addresses of the same broker service, tried in order.
  CCFDE_ASSIGN_OR_RETURN(const json* url, c.member(value, path, "url", true));
  std::vector<std::pair<const json*, Path>> url_values;
  if (url->is_array()) {
    if (url->empty() || url->size() > kMaxBrokerUrls) {
      return c.error(at("url"), fmt::format("a list of 1 to {} URLs expected, found {}",
                                            kMaxBrokerUrls, url->size()));
    }
    for (std::size_t i = 0; i < url->size(); ++i)
      url_values.emplace_back(&(*url)[i], Checker::child(at("url"), std::to_string(i)));
  } else if (url->is_string()) {
    url_values.emplace_back(url, at("url"));
  } else {
    return c.error(
        at("url"),
        fmt::format("expected a URL string or a list of URL strings, found {}", url->type_name()));
  }
  for (const auto& [one, one_path] : url_values) {
    CCFDE_ASSIGN_OR_RETURN(const std::string url_text, c.string_value(*one, one_path));
    if (const std::string problem = checks::check_url(url_text); !problem.empty())
      return c.error(one_path, fmt::format("\"{}\": {}", escape_nonprintable(url_text), problem));
    std::string normalized = checks::normalize_url(url_text);
    if (std::find(profile.urls.begin(), profile.urls.end(), normalized) != profile.urls.end()) {
      return c.error(one_path,
                     fmt::format("\"{}\" is listed twice", escape_nonprintable(url_text)));
    }
    profile.urls.push_back(std::move(normalized));
  }

  CCFDE_ASSIGN_OR_RETURN(const json* ca_file, c.member(value, path, "ca_file", true));
  CCFDE_ASSIGN_OR_RETURN(profile.ca_file, c.path_value(*ca_file, at("ca_file")));

  CCFDE_ASSIGN_OR_RETURN(const json* pins, c.member(value, path, "pins", false));
  if (pins != nullptr) {
    CCFDE_RETURN_IF_ERROR(c.expect_type(*pins, at("pins"), json::value_t::array, "an array"));
    for (std::size_t i = 0; i < pins->size(); ++i) {
      const Path pin_path = Checker::child(at("pins"), std::to_string(i));
      CCFDE_ASSIGN_OR_RETURN(std::string pin, c.string_value((*pins)[i], pin_path));
      if (const std::string problem = checks::check_pin(pin); !problem.empty())
        return c.error(pin_path, problem);
      profile.pins.push_back(std::move(pin));
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* certificate,
                         c.member(value, path, "client_certificate", false));
  CCFDE_ASSIGN_OR_RETURN(const json* key, c.member(value, path, "client_key", false));
  if ((certificate == nullptr) != (key == nullptr)) {
    return c.error(at(certificate != nullptr ? "client_certificate" : "client_key"),
                   "client_certificate and client_key go together: give both or neither");
  }
  if (certificate != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(profile.client_certificate,
                           c.path_value(*certificate, at("client_certificate")));
    CCFDE_ASSIGN_OR_RETURN(profile.client_key, c.path_value(*key, at("client_key")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* proxy, c.member(value, path, "proxy", false));
  if (proxy != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(profile.proxy, c.string_value(*proxy, at("proxy")));
    if (!profile.proxy.empty()) {
      if (const std::string problem = checks::check_proxy(profile.proxy); !problem.empty())
        return c.error(at("proxy"), problem);
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* connect, c.member(value, path, "connect_timeout_s", false));
  if (connect != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(profile.connect_timeout,
                           c.seconds_value(*connect, at("connect_timeout_s")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* request, c.member(value, path, "request_timeout_s", false));
  if (request != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(profile.request_timeout,
                           c.seconds_value(*request, at("request_timeout_s")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* token, c.member(value, path, "admin_token_file", false));
  if (token != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(profile.admin_token_file, c.path_value(*token, at("admin_token_file")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* resources, c.member(value, path, "resources", true));
  CCFDE_RETURN_IF_ERROR(
      c.expect_type(*resources, at("resources"), json::value_t::array, "an array"));
  if (resources->empty()) {
    return c.error(at("resources"), "at least one resource path or \"prefix*\" is required");
  }
  for (std::size_t i = 0; i < resources->size(); ++i) {
    const Path item = Checker::child(at("resources"), std::to_string(i));
    CCFDE_ASSIGN_OR_RETURN(std::string pattern, c.string_value((*resources)[i], item));
    if (const std::string problem = checks::check_resource_pattern(pattern); !problem.empty())
      return c.error(item, fmt::format("\"{}\": {}", escape_nonprintable(pattern), problem));
    profile.resources.push_back(std::move(pattern));
  }
  return Status::ok_status();
}

Status parse_evidence(Checker& c, const json& value, const Path& path, EvidenceConfig& evidence) {
  CCFDE_RETURN_IF_ERROR(c.expect_type(value, path, json::value_t::object, "an object"));
  CCFDE_RETURN_IF_ERROR(c.allowed_keys(
      value, path, {"tee", "send_event_log", "platform_root", "init_data", "init_data_smbios"}));
  const auto at = [&](std::string_view key) { return Checker::child(path, key); };
  CCFDE_ASSIGN_OR_RETURN(const json* tee, c.member(value, path, "tee", false));
  if (tee != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(const std::string name, c.string_value(*tee, at("tee")));
    const auto selection = parse_tee_selection(name);
    if (!selection) {
      return c.error(at("tee"), fmt::format("unknown TEE \"{}\" (auto, tdx, snp or sample)",
                                            escape_nonprintable(name)));
    }
    evidence.tee = *selection;
  }
  CCFDE_ASSIGN_OR_RETURN(const json* log, c.member(value, path, "send_event_log", false));
  if (log != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(evidence.send_event_log, c.bool_value(*log, at("send_event_log")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* root, c.member(value, path, "platform_root", false));
  if (root != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(evidence.platform_root, c.path_value(*root, at("platform_root")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* init_data, c.member(value, path, "init_data", false));
  if (init_data != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(evidence.init_data, c.path_value(*init_data, at("init_data")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* smbios, c.member(value, path, "init_data_smbios", false));
  if (smbios != nullptr) {
    if (init_data != nullptr) {
      return c.error(at("init_data_smbios"),
                     "init_data names the init-data already: give one of the two");
    }
    CCFDE_ASSIGN_OR_RETURN(evidence.init_data_smbios,
                           c.string_value(*smbios, at("init_data_smbios")));
    if (const std::string problem = checks::check_credential_name(evidence.init_data_smbios);
        !problem.empty()) {
      return c.error(at("init_data_smbios"), problem);
    }
  }
  return Status::ok_status();
}

// The resource a volume (unlock.volumes, unlock.first_boot) names: one exact resource path, never
// a profile's "prefix*" pattern. "" when it is one.
std::string check_volume_resource(std::string_view resource) {
  std::string problem = checks::check_resource_pattern(resource);
  if (problem.empty() && resource.back() == '*')
    problem = "a volume names one resource, not a prefix";
  return problem;
}

Status parse_required_volumes(Checker& c, const json& value, const Path& path,
                              UnlockConfig& unlock) {
  CCFDE_ASSIGN_OR_RETURN(const json* volumes, c.member(value, path, "volumes", false));
  if (volumes == nullptr) return Status::ok_status();
  const Path list = Checker::child(path, "volumes");
  CCFDE_RETURN_IF_ERROR(c.expect_type(*volumes, list, json::value_t::array, "an array"));
  for (std::size_t i = 0; i < volumes->size(); ++i) {
    const Path item = Checker::child(list, std::to_string(i));
    const json& entry = (*volumes)[i];
    CCFDE_RETURN_IF_ERROR(c.expect_type(entry, item, json::value_t::object, "an object"));
    CCFDE_RETURN_IF_ERROR(c.allowed_keys(entry, item, {"uuid", "profile", "resource"}));
    RequiredVolume volume;
    CCFDE_ASSIGN_OR_RETURN(const json* uuid, c.member(entry, item, "uuid", true));
    CCFDE_ASSIGN_OR_RETURN(const std::string text,
                           c.string_value(*uuid, Checker::child(item, "uuid")));
    const auto normalized = checks::normalize_uuid(text);
    if (!normalized) {
      return c.error(
          Checker::child(item, "uuid"),
          fmt::format("\"{}\" is not a UUID (8-4-4-4-12 hex digits)", escape_nonprintable(text)));
    }
    volume.uuid = *normalized;
    for (const auto& required : unlock.volumes) {
      if (required.uuid == volume.uuid) {
        return c.error(Checker::child(item, "uuid"),
                       fmt::format("UUID {} is listed twice", volume.uuid));
      }
    }
    CCFDE_ASSIGN_OR_RETURN(const json* profile, c.member(entry, item, "profile", false));
    if (profile != nullptr) {
      CCFDE_ASSIGN_OR_RETURN(volume.profile,
                             c.string_value(*profile, Checker::child(item, "profile")));
      if (const std::string problem = checks::check_profile_name(volume.profile); !problem.empty())
        return c.error(Checker::child(item, "profile"), problem);
    }
    CCFDE_ASSIGN_OR_RETURN(const json* resource, c.member(entry, item, "resource", false));
    if (resource != nullptr) {
      CCFDE_ASSIGN_OR_RETURN(volume.resource,
                             c.string_value(*resource, Checker::child(item, "resource")));
      if (const std::string problem = check_volume_resource(volume.resource); !problem.empty()) {
        return c.error(Checker::child(item, "resource"), problem);
      }
    }
    unlock.volumes.push_back(std::move(volume));
  }
  return Status::ok_status();
}

// GPT partition names of unlock.first_boot: what a provisioning tool writes (systemd-repart's
// Label=), kept to a portable subset.
std::string check_partlabel(std::string_view label) {
  if (label.empty() || label.size() > 36) return "a partition name has 1 to 36 characters";
  for (const char ch : label) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
    if (!ok) {
      return fmt::format("\"{}\" has a character outside [A-Za-z0-9_.-]",
                         escape_nonprintable(label));
    }
  }
  return "";
}

Status parse_first_boot_volumes(Checker& c, const json& value, const Path& path,
                                UnlockConfig& unlock) {
  CCFDE_ASSIGN_OR_RETURN(const json* volumes, c.member(value, path, "first_boot", false));
  if (volumes == nullptr) return Status::ok_status();
  const Path list = Checker::child(path, "first_boot");
  CCFDE_RETURN_IF_ERROR(c.expect_type(*volumes, list, json::value_t::array, "an array"));
  for (std::size_t i = 0; i < volumes->size(); ++i) {
    const Path item = Checker::child(list, std::to_string(i));
    const json& entry = (*volumes)[i];
    CCFDE_RETURN_IF_ERROR(c.expect_type(entry, item, json::value_t::object, "an object"));
    CCFDE_RETURN_IF_ERROR(
        c.allowed_keys(entry, item, {"partlabel", "name", "profile", "resource", "filesystem"}));
    FirstBootVolume volume;
    const auto text = [&](std::string_view key, bool required, std::string& out) -> Result<bool> {
      CCFDE_ASSIGN_OR_RETURN(const json* member, c.member(entry, item, key, required));
      if (member == nullptr) return false;
      CCFDE_ASSIGN_OR_RETURN(out, c.string_value(*member, Checker::child(item, key)));
      return true;
    };
    CCFDE_RETURN_IF_ERROR(text("partlabel", true, volume.partlabel).status());
    if (const std::string problem = check_partlabel(volume.partlabel); !problem.empty()) {
      return c.error(Checker::child(item, "partlabel"), problem);
    }
    CCFDE_RETURN_IF_ERROR(text("name", true, volume.name).status());
    if (const std::string problem = checks::check_profile_name(volume.name); !problem.empty()) {
      return c.error(Checker::child(item, "name"), problem);
    }
    CCFDE_RETURN_IF_ERROR(text("profile", false, volume.profile).status());
    if (const std::string problem = checks::check_profile_name(volume.profile); !problem.empty()) {
      return c.error(Checker::child(item, "profile"), problem);
    }
    CCFDE_RETURN_IF_ERROR(text("resource", true, volume.resource).status());
    if (const std::string problem = check_volume_resource(volume.resource); !problem.empty()) {
      return c.error(Checker::child(item, "resource"), problem);
    }
    CCFDE_ASSIGN_OR_RETURN(const bool has_filesystem, text("filesystem", false, volume.filesystem));
    if (!has_filesystem) volume.filesystem = "ext4";
    if (std::find(std::begin(kFirstBootFilesystems), std::end(kFirstBootFilesystems),
                  volume.filesystem) == std::end(kFirstBootFilesystems)) {
      return c.error(Checker::child(item, "filesystem"),
                     fmt::format("unknown file system \"{}\" (ext4, xfs or none)",
                                 escape_nonprintable(volume.filesystem)));
    }
    for (const auto& other : unlock.first_boot) {
      if (other.partlabel == volume.partlabel) {
        return c.error(Checker::child(item, "partlabel"),
                       fmt::format("partition name {} is listed twice", volume.partlabel));
      }
      if (other.name == volume.name) {
        return c.error(Checker::child(item, "name"),
                       fmt::format("mapping name {} is listed twice", volume.name));
      }
    }
    unlock.first_boot.push_back(std::move(volume));
  }
  return Status::ok_status();
}

Status parse_unlock(Checker& c, const json& value, const Path& path, UnlockConfig& unlock) {
  CCFDE_RETURN_IF_ERROR(c.expect_type(value, path, json::value_t::object, "an object"));
  CCFDE_RETURN_IF_ERROR(
      c.allowed_keys(value, path,
                     {"volume_timeout_s", "overall_timeout_s", "failure_action", "measure_unlock",
                      "max_parallel_fetches", "allowed_uuids", "crypttab", "volumes", "first_boot",
                      "require_crypttab", "require_phase_event", "allow_discards",
                      "allowed_ciphers", "allowed_sector_sizes", "allowed_integrity"}));
  const auto at = [&](std::string_view key) { return Checker::child(path, key); };
  CCFDE_ASSIGN_OR_RETURN(const json* volume, c.member(value, path, "volume_timeout_s", false));
  if (volume != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(unlock.volume_timeout, c.seconds_value(*volume, at("volume_timeout_s")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* overall, c.member(value, path, "overall_timeout_s", false));
  if (overall != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(unlock.overall_timeout,
                           c.seconds_value(*overall, at("overall_timeout_s")));
  }
  if (unlock.volume_timeout > unlock.overall_timeout) {
    return c.error(at(volume != nullptr ? "volume_timeout_s" : "overall_timeout_s"),
                   fmt::format("volume_timeout_s ({}) is longer than overall_timeout_s ({})",
                               unlock.volume_timeout.count(), unlock.overall_timeout.count()));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* action, c.member(value, path, "failure_action", false));
  if (action != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(const std::string text, c.string_value(*action, at("failure_action")));
    if (text == "fail") {
      unlock.failure_action = FailureAction::kFail;
    } else if (text == "prompt") {
      unlock.failure_action = FailureAction::kPrompt;
    } else {
      return c.error(
          at("failure_action"),
          fmt::format("unknown failure action \"{}\" (fail or prompt)", escape_nonprintable(text)));
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* measure, c.member(value, path, "measure_unlock", false));
  if (measure != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(unlock.measure_unlock, c.bool_value(*measure, at("measure_unlock")));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* parallel,
                         c.member(value, path, "max_parallel_fetches", false));
  if (parallel != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(
        const std::int64_t count,
        c.integer_value(*parallel, at("max_parallel_fetches"), 1, checks::kMaxParallelFetches));
    unlock.max_parallel_fetches = static_cast<unsigned>(count);
  }
  CCFDE_ASSIGN_OR_RETURN(const json* uuids, c.member(value, path, "allowed_uuids", false));
  if (uuids != nullptr) {
    CCFDE_RETURN_IF_ERROR(
        c.expect_type(*uuids, at("allowed_uuids"), json::value_t::array, "an array"));
    for (std::size_t i = 0; i < uuids->size(); ++i) {
      const Path uuid_path = Checker::child(at("allowed_uuids"), std::to_string(i));
      CCFDE_ASSIGN_OR_RETURN(const std::string text, c.string_value((*uuids)[i], uuid_path));
      const auto uuid = checks::normalize_uuid(text);
      if (!uuid) {
        return c.error(uuid_path, fmt::format("\"{}\" is not a UUID (8-4-4-4-12 hex digits)",
                                              escape_nonprintable(text)));
      }
      if (std::find(unlock.allowed_uuids.begin(), unlock.allowed_uuids.end(), *uuid) !=
          unlock.allowed_uuids.end()) {
        return c.error(uuid_path, fmt::format("UUID {} is listed twice", *uuid));
      }
      unlock.allowed_uuids.push_back(*uuid);
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* crypttab, c.member(value, path, "crypttab", false));
  if (crypttab != nullptr) {
    CCFDE_ASSIGN_OR_RETURN(unlock.crypttab, c.path_value(*crypttab, at("crypttab")));
  }
  CCFDE_RETURN_IF_ERROR(parse_required_volumes(c, value, path, unlock));
  CCFDE_RETURN_IF_ERROR(parse_first_boot_volumes(c, value, path, unlock));
  for (const auto& [key, flag] :
       {std::pair<std::string_view, bool*>{"require_crypttab", &unlock.require_crypttab},
        {"require_phase_event", &unlock.require_phase_event},
        {"allow_discards", &unlock.allow_discards}}) {
    CCFDE_ASSIGN_OR_RETURN(const json* member, c.member(value, path, key, false));
    if (member != nullptr) {
      CCFDE_ASSIGN_OR_RETURN(*flag, c.bool_value(*member, at(key)));
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* ciphers, c.member(value, path, "allowed_ciphers", false));
  if (ciphers != nullptr) {
    CCFDE_RETURN_IF_ERROR(
        c.expect_type(*ciphers, at("allowed_ciphers"), json::value_t::array, "an array"));
    if (ciphers->empty()) return c.error(at("allowed_ciphers"), "at least one cipher is required");
    unlock.allowed_ciphers.clear();
    for (std::size_t i = 0; i < ciphers->size(); ++i) {
      const Path item = Checker::child(at("allowed_ciphers"), std::to_string(i));
      CCFDE_ASSIGN_OR_RETURN(std::string cipher, c.string_value((*ciphers)[i], item));
      if (const std::string problem = checks::check_cipher(cipher); !problem.empty())
        return c.error(item, fmt::format("\"{}\": {}", escape_nonprintable(cipher), problem));
      unlock.allowed_ciphers.push_back(std::move(cipher));
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* sectors, c.member(value, path, "allowed_sector_sizes", false));
  if (sectors != nullptr) {
    CCFDE_RETURN_IF_ERROR(
        c.expect_type(*sectors, at("allowed_sector_sizes"), json::value_t::array, "an array"));
    if (sectors->empty()) {
      return c.error(at("allowed_sector_sizes"), "at least one sector size is required");
    }
    unlock.allowed_sector_sizes.clear();
    for (std::size_t i = 0; i < sectors->size(); ++i) {
      const Path item = Checker::child(at("allowed_sector_sizes"), std::to_string(i));
      CCFDE_ASSIGN_OR_RETURN(const std::int64_t size,
                             c.integer_value((*sectors)[i], item, 512, 4096));
      if ((size & (size - 1)) != 0) {
        return c.error(item, fmt::format("{} is not a power of two (512, 1024, 2048, 4096)", size));
      }
      unlock.allowed_sector_sizes.push_back(static_cast<unsigned>(size));
    }
  }
  CCFDE_ASSIGN_OR_RETURN(const json* integrity, c.member(value, path, "allowed_integrity", false));
  if (integrity != nullptr) {
    const Path list_path = at("allowed_integrity");
    CCFDE_RETURN_IF_ERROR(c.expect_type(*integrity, list_path, json::value_t::array, "an array"));
    if (integrity->empty()) {
      return c.error(list_path, "at least one value is required (\"none\": no integrity)");
    }
    unlock.allowed_integrity.clear();
    for (std::size_t i = 0; i < integrity->size(); ++i) {
      const Path item = Checker::child(list_path, std::to_string(i));
      CCFDE_ASSIGN_OR_RETURN(std::string name, c.string_value((*integrity)[i], item));
      static constexpr std::array<std::string_view, 4> kKnown = {"none", "hmac(sha256)",
                                                                 "hmac(sha512)", "aead"};
      if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
        return c.error(item, fmt::format("\"{}\" is not one of none, hmac(sha256), hmac(sha512), "
                                         "aead",
                                         escape_nonprintable(name)));
      }
      if (std::find(unlock.allowed_integrity.begin(), unlock.allowed_integrity.end(), name) !=
          unlock.allowed_integrity.end()) {
        return c.error(item, fmt::format("\"{}\" is listed twice", name));
      }
      unlock.allowed_integrity.push_back(std::move(name));
    }
  }
  return Status::ok_status();
}

Status parse_command_line_policy(Checker& c, const json& value, const Path& path,
                                 CommandLinePolicy& policy) {
  CCFDE_RETURN_IF_ERROR(c.expect_type(value, path, json::value_t::object, "an object"));
  CCFDE_RETURN_IF_ERROR(c.allowed_keys(value, path, {"allow"}));
  const Path allow_path = Checker::child(path, "allow");
  CCFDE_ASSIGN_OR_RETURN(const json* allow, c.member(value, path, "allow", true));
  CCFDE_RETURN_IF_ERROR(c.expect_type(*allow, allow_path, json::value_t::array, "an array"));
  policy.allow.clear();
  for (std::size_t i = 0; i < allow->size(); ++i) {
    const Path item = Checker::child(allow_path, std::to_string(i));
    CCFDE_ASSIGN_OR_RETURN(std::string name, c.string_value((*allow)[i], item));
    if (!checks::is_command_line_option(name)) {
      return c.error(item, fmt::format("unknown option \"{}\" ({})", escape_nonprintable(name),
                                       checks::kCommandLineOptionList));
    }
    policy.allow.push_back(std::move(name));
  }
  return Status::ok_status();
}

// "[json.exception.parse_error.101] parse error at line 1, column 2: what" -> "what".
std::string parse_error_text(const std::string& what) {
  std::string_view text = what;
  if (text.substr(0, 1) == "[") {
    const std::size_t close = text.find("] ");
    if (close != std::string_view::npos) text.remove_prefix(close + 2);
  }
  constexpr std::string_view kAt = "parse error at ";
  if (text.substr(0, kAt.size()) == kAt) {
    const std::size_t colon = text.find(": ");
    if (colon != std::string_view::npos) text.remove_prefix(colon + 2);
  }
  return escape_nonprintable(text);
}

// The files of a profile the agent reads at boot, by key (admin_token_file is fdectl's only).
std::array<std::pair<std::string_view, const std::filesystem::path*>, 3> profile_boot_files(
    const BrokerProfile& profile) {
  return {{{"ca_file", &profile.ca_file},
           {"client_certificate", &profile.client_certificate},
           {"client_key", &profile.client_key}}};
}

}  // namespace

std::optional<TeeSelection> parse_tee_selection(std::string_view name) noexcept {
  if (name == "auto") return std::optional<TeeSelection>(std::in_place, std::nullopt);
  const auto kind = measure::parse_attesting_tee(name);
  if (!kind) return std::nullopt;
  return std::optional<TeeSelection>(std::in_place, *kind);
}

std::string_view tee_selection_name(const TeeSelection& tee) noexcept {
  return tee ? measure::tee_kind_name(*tee) : std::string_view("auto");
}

bool BrokerProfile::allows_resource(std::string_view resource) const {
  return std::any_of(resources.begin(), resources.end(), [&](const std::string& pattern) {
    if (!pattern.empty() && pattern.back() == '*') {
      const std::string_view prefix(pattern.data(), pattern.size() - 1);
      return resource.size() > prefix.size() && resource.substr(0, prefix.size()) == prefix;
    }
    return resource == pattern;
  });
}

bool CommandLinePolicy::allows(std::string_view option) const {
  return std::find(allow.begin(), allow.end(), option) != allow.end();
}

Status check_trusted_file(const std::filesystem::path& path, const std::filesystem::path& root) {
  struct stat file {};
  struct stat root_stat {};
  if (::stat(path.c_str(), &file) != 0) {
    const int error = errno;
    return make_errno_error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, error,
                            "{}", escape_nonprintable(path.string()));
  }
  if (!S_ISREG(file.st_mode)) {
    const char* kind = S_ISBLK(file.st_mode)    ? "a block device"
                       : S_ISCHR(file.st_mode)  ? "a character device"
                       : S_ISFIFO(file.st_mode) ? "a FIFO"
                       : S_ISSOCK(file.st_mode) ? "a socket"
                       : S_ISDIR(file.st_mode)  ? "a directory"
                                                : "not a regular file";
    return make_error(ErrorCode::kConfigInvalid,
                      "{} is {}: only regular files of the measured image are trusted",
                      escape_nonprintable(path.string()), kind);
  }
  if (::stat(root.c_str(), &root_stat) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "{}", root.string());
  }
  if (file.st_dev != root_stat.st_dev) {
    return make_error(ErrorCode::kConfigInvalid,
                      "{} is on another file system than {} (a disk the host attached?): only "
                      "files of the measured image are trusted",
                      escape_nonprintable(path.string()), root.string());
  }
  return Status::ok_status();
}

Status check_trusted_files(const AgentConfig& config, const std::filesystem::path& root) {
  for (const auto& [name, profile] : config.profiles) {
    for (const auto& [key, path] : profile_boot_files(profile)) {
      if (path->empty()) continue;
      if (Status trusted = check_trusted_file(*path, root); !trusted.ok()) {
        return trusted.with_context(fmt::format("profile {} {}", name, key));
      }
    }
  }
  return Status::ok_status();
}

std::vector<NamedFile> boot_files(const AgentConfig& config) {
  std::vector<NamedFile> files;
  const auto add = [&files](std::string setting, const std::filesystem::path& path) {
    if (path.empty()) return;
    const auto same = [&](const NamedFile& file) { return file.path == path; };
    if (std::none_of(files.begin(), files.end(), same)) {
      files.push_back({std::move(setting), path});
    }
  };
  for (const auto& [name, profile] : config.profiles) {
    for (const auto& [key, path] : profile_boot_files(profile))
      add(fmt::format("profiles/{}/{}", name, key), *path);
  }
  if (config.unlock.crypttab != UnlockConfig{}.crypttab)
    add("unlock/crypttab", config.unlock.crypttab);
  return files;
}

Result<const BrokerProfile*> AgentConfig::profile(std::string_view name) const {
  const auto it = profiles.find(name);
  if (it != profiles.end()) return &it->second;
  std::string names;
  for (const auto& [configured, unused] : profiles)
    names += (names.empty() ? "" : ", ") + configured;
  return make_error(ErrorCode::kUnknownProfile,
                    "broker profile \"{}\" is not configured in {} (configured: {})",
                    escape_nonprintable(name), origin.empty() ? "the configuration" : origin,
                    names.empty() ? "none" : names);
}

Result<AgentConfig> parse_config(std::string_view json_text, std::string_view origin) {
  json document;
  DuplicateFinder duplicates;
  try {
    document = json::parse(json_text.begin(), json_text.end(), std::ref(duplicates));
  } catch (const json::parse_error& e) {
    // e.byte counts the characters read, the offending one included.
    const std::size_t offset =
        std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, json_text.size());
    const std::string_view before = json_text.substr(0, offset);
    const std::size_t line =
        1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
    const std::size_t line_start = before.rfind('\n');
    const std::size_t column =
        offset - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
    return make_error(ErrorCode::kConfigInvalid, "{}:{}:{}: invalid JSON: {}", origin, line, column,
                      parse_error_text(e.what()));
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kConfigInvalid, "{}: invalid JSON: {}", origin,
                      escape_nonprintable(e.what()));
  }
  Checker c(json_text, origin);
  if (duplicates.duplicate) return c.error(*duplicates.duplicate, "duplicate key");
  if (!document.is_object()) {
    return c.error({}, fmt::format("expected a JSON object, found {}", document.type_name()));
  }
  CCFDE_RETURN_IF_ERROR(c.allowed_keys(
      document, {}, {"version", "profiles", "evidence", "unlock", "kernel_command_line"}));

  CCFDE_ASSIGN_OR_RETURN(const json* version, c.member(document, {}, "version", true));
  CCFDE_RETURN_IF_ERROR(
      c.expect_type(*version, {"version"}, json::value_t::number_integer, "an integer"));
  if (version->is_number_unsigned() ? version->get<std::uint64_t>() != kSchemaVersion
                                    : version->get<std::int64_t>() != kSchemaVersion) {
    return c.error({"version"}, fmt::format("unsupported version {} (this agent reads version {})",
                                            version->dump(), kSchemaVersion));
  }

  AgentConfig config;
  config.origin = std::string(origin);
  CCFDE_ASSIGN_OR_RETURN(const json* profiles, c.member(document, {}, "profiles", true));
  CCFDE_RETURN_IF_ERROR(c.expect_type(*profiles, {"profiles"}, json::value_t::object, "an object"));
  if (profiles->empty()) return c.error({"profiles"}, "at least one broker profile is required");
  for (const auto& [name, value] : profiles->items()) {
    BrokerProfile profile;
    CCFDE_RETURN_IF_ERROR(parse_profile(c, name, value, {"profiles", name}, profile));
    config.profiles.emplace(name, std::move(profile));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* evidence, c.member(document, {}, "evidence", false));
  if (evidence != nullptr) {
    CCFDE_RETURN_IF_ERROR(parse_evidence(c, *evidence, {"evidence"}, config.evidence));
  }
  CCFDE_ASSIGN_OR_RETURN(const json* unlock, c.member(document, {}, "unlock", false));
  if (unlock != nullptr) CCFDE_RETURN_IF_ERROR(parse_unlock(c, *unlock, {"unlock"}, config.unlock));
  CCFDE_ASSIGN_OR_RETURN(const json* cmdline, c.member(document, {}, "kernel_command_line", false));
  if (cmdline != nullptr) {
    CCFDE_RETURN_IF_ERROR(parse_command_line_policy(c, *cmdline, {"kernel_command_line"},
                                                    config.kernel_command_line));
  }
  // A volume's binding must name a configured profile and a resource that profile allows.
  const auto check_binding = [&](const std::string& what, const std::string& profile_name,
                                 const std::string& resource, const Path& profile_at,
                                 const Path& resource_at) -> Status {
    const auto profile = config.profiles.find(profile_name);
    if (profile == config.profiles.end()) {
      return c.error(profile_at, fmt::format("{} names profile \"{}\", which is not configured",
                                             what, profile_name));
    }
    if (!resource.empty() && !profile->second.allows_resource(resource)) {
      return c.error(resource_at,
                     fmt::format("{}: resource \"{}\" is not in profile {}'s resources", what,
                                 resource, profile_name));
    }
    return Status::ok_status();
  };
  for (const auto& volume : config.unlock.volumes) {
    if (volume.profile.empty()) continue;
    CCFDE_RETURN_IF_ERROR(check_binding("volume " + volume.uuid, volume.profile, volume.resource,
                                        {"unlock", "volumes"}, {"unlock", "volumes"}));
  }
  for (std::size_t i = 0; i < config.unlock.first_boot.size(); ++i) {
    const auto& volume = config.unlock.first_boot[i];
    const Path item = {"unlock", "first_boot", std::to_string(i)};
    CCFDE_RETURN_IF_ERROR(check_binding("first-boot volume " + volume.partlabel, volume.profile,
                                        volume.resource, Checker::child(item, "profile"),
                                        Checker::child(item, "resource")));
  }
  return config;
}

Result<AgentConfig> load_config(const std::filesystem::path& path) {
  CCFDE_RETURN_IF_ERROR(check_trusted_file(path));
  return read_config_file(path);
}

Result<AgentConfig> read_config_file(const std::filesystem::path& path) {
  std::error_code error;
  const auto type = std::filesystem::status(path, error).type();
  if (type == std::filesystem::file_type::not_found) {
    return make_error(ErrorCode::kNotFound, "configuration {}: no such file",
                      escape_nonprintable(path.string()));
  }
  if (error) {
    return make_error(ErrorCode::kIoError, "configuration {}: {}",
                      escape_nonprintable(path.string()), error.message());
  }
  if (type != std::filesystem::file_type::regular) {
    return make_error(ErrorCode::kConfigInvalid, "configuration {}: not a regular file",
                      escape_nonprintable(path.string()));
  }
  auto bytes = read_file(path, kMaxConfigSize);
  if (!bytes.ok()) {
    const Status& status = bytes.status();
    if (status.code() == ErrorCode::kInvalidArgument) {
      return make_error(ErrorCode::kConfigInvalid, "{}: larger than {} bytes", path.string(),
                        kMaxConfigSize);
    }
    return status.with_context("configuration " + path.string());
  }
  return parse_config(as_chars(*bytes), path.string());
}

}  // namespace ccfde::agent
