// SPDX-License-Identifier: Apache-2.0
// rd.cc-fde.* options of the kernel command line (docs/CONFIGURATION.md).
#include <algorithm>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/agent/config_checks.h"
#include "ccfde/common/encoding.h"

namespace ccfde::agent {
namespace {

namespace checks = config_checks;

constexpr std::size_t kMaxCommandLine = std::size_t{64} * 1024;

struct Word {
  std::string text;     // unquoted
  bool quoted = false;  // a quote character was part of it
};

// Words as systemd's proc_cmdline splits them (extract_first_word with EXTRACT_UNQUOTE |
// EXTRACT_RELAX | EXTRACT_RETAIN_ESCAPE, systemd/systemd src/basic/proc-cmdline.c): whitespace
// separates, single and double quotes group and are removed, backslashes stay, an unterminated
// quote runs to the end. The kernel itself only knows double quotes; a cc-fde word with any quote
// is refused by the caller, so the two readings can never disagree about a cc-fde option.
std::vector<Word> split_words(std::string_view text) {
  std::vector<Word> words;
  Word word;
  bool in_word = false;
  char quote = 0;
  for (char c : text) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word.text.push_back(c);
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      word.quoted = true;
      in_word = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word = Word{};
      in_word = false;
      continue;
    }
    word.text.push_back(c);
    in_word = true;
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

Status option_error(std::string_view word, std::string_view what) {
  return make_error(ErrorCode::kConfigInvalid, "kernel command line: {}: {}",
                    escape_nonprintable(word), what);
}

// "[PROFILE=]VALUE": the profile (default "default") and the value. A prefix before '=' that is
// a profile name names the profile.
std::pair<std::string, std::string> split_profile(std::string_view value) {
  const std::size_t equals = value.find('=');
  if (equals != std::string_view::npos &&
      checks::check_profile_name(value.substr(0, equals)).empty()) {
    return {std::string(value.substr(0, equals)), std::string(value.substr(equals + 1))};
  }
  return {std::string(kDefaultProfileName), std::string(value)};
}

// "URL[,URL...]": a profile's addresses in order, each checked and normalised like the
// configuration file's "url". Errors: kConfigInvalid naming `word` and the address (by position)
// that is wrong, empty or repeated.
Result<std::vector<std::string>> parse_url_list(std::string_view word, std::string_view list) {
  std::vector<std::string> urls;
  std::size_t position = 0;
  for (;;) {
    const std::size_t comma = list.find(',');
    const std::string_view one = list.substr(0, comma);
    ++position;
    if (urls.size() == kMaxBrokerUrls) {
      return option_error(word, fmt::format("more than {} URLs", kMaxBrokerUrls));
    }
    if (one.empty()) return option_error(word, fmt::format("URL {} is empty", position));
    if (const std::string problem = checks::check_url(one); !problem.empty()) {
      return option_error(
          word, fmt::format("URL {} \"{}\": {}", position, escape_nonprintable(one), problem));
    }
    std::string normalized = checks::normalize_url(one);
    if (std::find(urls.begin(), urls.end(), normalized) != urls.end()) {
      return option_error(
          word, fmt::format("URL {} \"{}\" is listed twice", position, escape_nonprintable(one)));
    }
    urls.push_back(std::move(normalized));
    if (comma == std::string_view::npos) return urls;
    list.remove_prefix(comma + 1);
  }
}

std::optional<bool> parse_flag(std::string_view value) {
  if (value == "1") return true;
  if (value == "0") return false;
  return std::nullopt;
}

}  // namespace

Result<KernelCommandLine> parse_kernel_command_line(std::string_view text) {
  if (text.size() > kMaxCommandLine) {
    return make_error(ErrorCode::kConfigInvalid, "kernel command line: longer than {} bytes",
                      kMaxCommandLine);
  }
  KernelCommandLine out;
  for (const Word& split : split_words(text)) {
    const std::string& word = split.text;
    std::string_view rest = word;
    if (rest.substr(0, 3) == "rd.") rest.remove_prefix(3);
    if (rest.substr(0, 10) == "luks.uuid=") {
      std::string_view uuid = rest.substr(10);
      if (uuid.substr(0, 5) == "luks-") uuid.remove_prefix(5);
      const auto normalized = checks::normalize_uuid(uuid);
      if (split.quoted || !normalized) {
        return option_error(word, "not a LUKS UUID (8-4-4-4-12 hex digits, without quotes)");
      }
      if (std::find(out.luks_uuids.begin(), out.luks_uuids.end(), *normalized) ==
          out.luks_uuids.end()) {
        out.luks_uuids.push_back(*normalized);
      }
      continue;
    }
    constexpr std::string_view kPrefix = "cc-fde";
    if (rest.substr(0, kPrefix.size()) != kPrefix) continue;
    rest.remove_prefix(kPrefix.size());
    if (!rest.empty() && rest.front() != '=' && rest.front() != '.') continue;  // cc-fdex=...
    if (split.quoted) {
      return option_error(word,
                          "quote characters in a cc-fde option are refused (the kernel and "
                          "systemd split quoted words differently)");
    }

    std::string_view name;  // "" for the bare rd.cc-fde
    std::optional<std::string_view> value;
    if (!rest.empty() && rest.front() == '.') {
      rest.remove_prefix(1);
      name = rest;
    }
    if (const std::size_t equals = name.empty() ? rest.find('=') : name.find('=');
        equals != std::string_view::npos) {
      if (name.empty()) {
        value = rest.substr(equals + 1);
      } else {
        value = name.substr(equals + 1);
        name = name.substr(0, equals);
      }
    }

    out.options.emplace_back(name.empty() ? "disable" : std::string(name), word);
    if (name.empty()) {
      if (!value) continue;  // a bare rd.cc-fde changes nothing
      const auto flag = parse_flag(*value);
      if (!flag) return option_error(word, "expected rd.cc-fde=0 or rd.cc-fde=1");
      out.disabled = !*flag;
      continue;
    }
    if (name == "debug") {
      const auto flag = value ? parse_flag(*value) : std::optional<bool>(true);
      if (!flag) return option_error(word, "expected rd.cc-fde.debug, =0 or =1");
      out.debug = *flag;
      continue;
    }
    if (!value) return option_error(word, "the option needs a value (OPTION=VALUE)");
    if (value->empty()) return option_error(word, "empty value");

    if (name == "config") {
      if (const std::string problem = checks::check_absolute_path(*value); !problem.empty())
        return option_error(word, problem);
      out.config_path = std::filesystem::path(std::string(*value));
    } else if (name == "url") {
      auto [profile, list] = split_profile(*value);
      CCFDE_ASSIGN_OR_RETURN(out.urls_by_profile[profile], parse_url_list(word, list));
    } else if (name == "ca") {
      // An absolute path starts with '/', so "PROFILE=" can only come first when it does not.
      auto [profile, path] = value->front() == '/'
                                 ? std::pair(std::string(kDefaultProfileName), std::string(*value))
                                 : split_profile(*value);
      if (const std::string problem = checks::check_absolute_path(path); !problem.empty())
        return option_error(word, problem);
      out.ca_by_profile[profile] = std::filesystem::path(path);
    } else if (name == "tee") {
      const auto selection = parse_tee_selection(*value);
      if (!selection) return option_error(word, "unknown TEE (auto, tdx, snp or sample)");
      out.tee.emplace(*selection);
    } else if (name == "timeout" || name == "volume-timeout") {
      const auto seconds = checks::parse_seconds(*value);
      if (!seconds) return option_error(word, "not a number of seconds from 1 to 3600");
      (name == "timeout" ? out.overall_timeout : out.volume_timeout) = *seconds;
    } else if (name == "failure") {
      if (*value == "fail") {
        out.failure_action = FailureAction::kFail;
      } else if (*value == "prompt") {
        out.failure_action = FailureAction::kPrompt;
      } else {
        return option_error(word, "expected fail or prompt");
      }
    } else if (name == "measure") {
      const auto flag = parse_flag(*value);
      if (!flag) return option_error(word, "expected 0 or 1");
      out.measure_unlock = *flag;
    } else {
      return option_error(word,
                          "unknown option (config, url, ca, tee, timeout, volume-timeout, "
                          "failure, measure, debug)");
    }
  }
  return out;
}

Status check_command_line_policy(const KernelCommandLine& cmdline, const CommandLinePolicy& policy,
                                 std::string_view origin) {
  for (const auto& [name, word] : cmdline.options) {
    if (policy.allows(name)) continue;
    std::string allowed;
    for (const auto& option : policy.allow) allowed += (allowed.empty() ? "" : ", ") + option;
    return make_error(ErrorCode::kConfigInvalid,
                      "kernel command line: {}: the configuration {} does not let the command "
                      "line set \"{}\" (kernel_command_line.allow: {}); nothing was sent to any "
                      "broker",
                      escape_nonprintable(word), origin, name,
                      allowed.empty() ? "nothing" : allowed);
  }
  return Status::ok_status();
}

Status apply_kernel_command_line(const KernelCommandLine& cmdline, AgentConfig& config) {
  AgentConfig changed = config;
  for (const auto& uuid : cmdline.luks_uuids) {
    const bool listed = std::any_of(changed.unlock.volumes.begin(), changed.unlock.volumes.end(),
                                    [&](const RequiredVolume& v) { return v.uuid == uuid; });
    if (!listed) changed.unlock.volumes.push_back(RequiredVolume{uuid, "", ""});
  }
  const auto unknown_profile = [&](std::string_view option, const std::string& profile) {
    std::string names;
    for (const auto& [name, unused] : config.profiles) names += (names.empty() ? "" : ", ") + name;
    return make_error(ErrorCode::kConfigInvalid,
                      "kernel command line: rd.cc-fde.{}: profile \"{}\" is not configured in {} "
                      "(configured: {})",
                      option, escape_nonprintable(profile), config.origin, names);
  };
  for (const auto& [profile, urls] : cmdline.urls_by_profile) {
    const auto it = changed.profiles.find(profile);
    if (it == changed.profiles.end()) return unknown_profile("url", profile);
    if (urls.empty() || urls.size() > kMaxBrokerUrls) {
      return make_error(ErrorCode::kConfigInvalid,
                        "kernel command line: rd.cc-fde.url: 1 to {} URLs expected, found {}",
                        kMaxBrokerUrls, urls.size());
    }
    std::vector<std::string> checked;
    for (const std::string& url : urls) {
      if (const std::string problem = checks::check_url(url); !problem.empty()) {
        return make_error(ErrorCode::kConfigInvalid, "kernel command line: rd.cc-fde.url={}: {}",
                          escape_nonprintable(url), problem);
      }
      checked.push_back(checks::normalize_url(url));
    }
    it->second.urls = std::move(checked);
  }
  for (const auto& [profile, path] : cmdline.ca_by_profile) {
    const auto it = changed.profiles.find(profile);
    if (it == changed.profiles.end()) return unknown_profile("ca", profile);
    if (const std::string problem = checks::check_absolute_path(path.string()); !problem.empty()) {
      return make_error(ErrorCode::kConfigInvalid, "kernel command line: rd.cc-fde.ca={}: {}",
                        escape_nonprintable(path.string()), problem);
    }
    it->second.ca_file = path;
  }
  if (cmdline.tee) {
    if (*cmdline.tee == measure::TeeKind::kNone) {
      return make_error(ErrorCode::kConfigInvalid,
                        "kernel command line: rd.cc-fde.tee={}: unknown TEE",
                        tee_selection_name(*cmdline.tee));
    }
    changed.evidence.tee = *cmdline.tee;
  }
  const auto in_range = [](std::chrono::seconds s) {
    return s.count() >= checks::kMinTimeoutSeconds && s.count() <= checks::kMaxTimeoutSeconds;
  };
  if (cmdline.overall_timeout) changed.unlock.overall_timeout = *cmdline.overall_timeout;
  if (cmdline.volume_timeout) changed.unlock.volume_timeout = *cmdline.volume_timeout;
  if (!in_range(changed.unlock.overall_timeout) || !in_range(changed.unlock.volume_timeout)) {
    return make_error(ErrorCode::kConfigInvalid,
                      "kernel command line: timeouts must be from 1 to 3600 seconds");
  }
  if (changed.unlock.volume_timeout > changed.unlock.overall_timeout) {
    return make_error(ErrorCode::kConfigInvalid,
                      "kernel command line: the volume timeout ({} s) is longer than the overall "
                      "timeout ({} s)",
                      changed.unlock.volume_timeout.count(),
                      changed.unlock.overall_timeout.count());
  }
  if (cmdline.failure_action) changed.unlock.failure_action = *cmdline.failure_action;
  if (cmdline.measure_unlock) changed.unlock.measure_unlock = *cmdline.measure_unlock;
  config = std::move(changed);
  return Status::ok_status();
}

Result<EffectiveConfig> load_effective_config(const std::filesystem::path& explicit_path,
                                              std::string_view cmdline_text) {
  CCFDE_ASSIGN_OR_RETURN(const KernelCommandLine cmdline, parse_kernel_command_line(cmdline_text));
  EffectiveConfig loaded;
  const std::filesystem::path path =
      explicit_path.empty() ? std::filesystem::path(kDefaultConfigPath) : explicit_path;
  CCFDE_ASSIGN_OR_RETURN(loaded.config, load_config(path));
  if (cmdline.config_path && explicit_path.empty()) {
    // The measured default decides whether the command line may name another file at all.
    KernelCommandLine only_config;
    for (const auto& option : cmdline.options) {
      if (option.first == "config") only_config.options.push_back(option);
    }
    CCFDE_RETURN_IF_ERROR(check_command_line_policy(only_config, loaded.config.kernel_command_line,
                                                    loaded.config.origin));
    CCFDE_ASSIGN_OR_RETURN(loaded.config, load_config(*cmdline.config_path));
  }
  CCFDE_RETURN_IF_ERROR(
      check_command_line_policy(cmdline, loaded.config.kernel_command_line, loaded.config.origin));
  loaded.disabled = cmdline.disabled;
  loaded.debug = cmdline.debug;
  if (loaded.disabled) return loaded;
  CCFDE_RETURN_IF_ERROR(apply_kernel_command_line(cmdline, loaded.config));
  CCFDE_RETURN_IF_ERROR(check_trusted_files(loaded.config));
  return loaded;
}

}  // namespace ccfde::agent
