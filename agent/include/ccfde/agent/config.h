// The agent configuration: which key brokers exist (profiles), how to gather evidence, and how
// unlocking behaves. It lives in the measured initramfs or root filesystem (default
// /etc/cc-fde/config.json) and may be overridden by rd.cc-fde.* kernel command-line options (also
// measured). It is the only source of broker addresses, CAs and pins: a LUKS2 token only names a
// profile (token.h). Schema and every option: docs/CONFIGURATION.md.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::agent {

inline constexpr std::string_view kDefaultConfigPath = "/etc/cc-fde/config.json";
inline constexpr std::string_view kDefaultProfileName = "default";

enum class BrokerProtocol { kTrustee, kIta };

struct BrokerProfile {
  std::string name;
  BrokerProtocol protocol = BrokerProtocol::kTrustee;
  std::string url;                           // https://host:port, no path
  std::filesystem::path ca_file;             // PEM bundle that signs the broker's certificate
  std::vector<std::string> pins;             // optional "sha256//<base64 SPKI digest>"
  std::filesystem::path client_certificate;  // optional mTLS, both or neither
  std::filesystem::path client_key;
  std::string proxy;  // optional; empty: direct (the environment is ignored)
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds request_timeout{30};
  std::filesystem::path admin_token_file;  // optional: fdectl's resource uploads (never the agent)
};

struct EvidenceConfig {
  std::string tee = "auto";  // auto | tdx | snp | sample (sample: development only)
  bool send_event_log = true;
  std::filesystem::path platform_root;  // prefix for kernel interface paths; "" = "/" (tests)
};

// What fde-agent does with a volume it could not unlock before its deadline.
enum class FailureAction {
  kFail,    // fail: the unit fails and the boot stops (default: the host owns a CVM's console)
  kPrompt,  // prompt: leave the volume to the normal passphrase prompt
};

struct UnlockConfig {
  std::chrono::seconds volume_timeout{120};   // per volume: fetch + activation
  std::chrono::seconds overall_timeout{300};  // the whole unlock run
  FailureAction failure_action = FailureAction::kFail;
  bool measure_unlock = true;              // extend RTMR3 + runtime event log after an unlock
  unsigned max_parallel_fetches = 4;       // concurrent key requests per profile
  std::vector<std::string> allowed_uuids;  // non-empty: only these LUKS UUIDs are unlocked
  std::filesystem::path crypttab = "/etc/crypttab";
};

struct AgentConfig {
  std::map<std::string, BrokerProfile, std::less<>> profiles;
  EvidenceConfig evidence;
  UnlockConfig unlock;
  std::string origin;  // where it was loaded from, for messages

  // The profile called `name`. Errors: kUnknownProfile naming the profile and listing the
  // configured ones.
  Result<const BrokerProfile*> profile(std::string_view name) const;
};

// Parses and validates configuration JSON. Unknown keys, wrong types, out-of-range values, a
// non-https URL, relative paths, a profile without "url"/"ca_file" are errors.
// Errors: kConfigInvalid with a message "<origin>:<line>: <json pointer>: <what is wrong>" (the
// line of the offending key; the JSON parser's line and column for syntax errors).
Result<AgentConfig> parse_config(std::string_view json_text, std::string_view origin);

// Reads and parses `path`. Errors: kNotFound, kIoError, those of parse_config.
Result<AgentConfig> load_config(const std::filesystem::path& path);

// rd.cc-fde.* options from the kernel command line (docs/CONFIGURATION.md):
//   rd.cc-fde=0                      the agent does nothing
//   rd.cc-fde.config=PATH            another configuration file (inside the initramfs)
//   rd.cc-fde.url=[PROFILE=]URL      override a profile's broker URL (default profile: "default")
//   rd.cc-fde.ca=[PROFILE=]PATH      override a profile's CA file
//   rd.cc-fde.tee=auto|tdx|snp|sample
//   rd.cc-fde.timeout=SECONDS        overall deadline
//   rd.cc-fde.volume-timeout=SECONDS
//   rd.cc-fde.failure=fail|prompt
//   rd.cc-fde.measure=0|1
//   rd.cc-fde.debug                  verbose log lines
// The plain forms without "rd." (cc-fde.url=...) are accepted too, for volumes opened after
// switch-root. Other words of the command line are ignored.
struct KernelCommandLine {
  bool disabled = false;
  bool debug = false;
  std::optional<std::filesystem::path> config_path;
  std::map<std::string, std::string, std::less<>> url_by_profile;
  std::map<std::string, std::filesystem::path, std::less<>> ca_by_profile;
  std::optional<std::string> tee;
  std::optional<std::chrono::seconds> overall_timeout;
  std::optional<std::chrono::seconds> volume_timeout;
  std::optional<FailureAction> failure_action;
  std::optional<bool> measure_unlock;
};

// Parses /proc/cmdline text (words separated by whitespace, "double quotes" grouping as the kernel
// does). Errors: kConfigInvalid naming the option ("rd.cc-fde.timeout=abc: not a number of
// seconds").
Result<KernelCommandLine> parse_kernel_command_line(std::string_view text);

// Applies the command-line overrides to `config`, re-validating what changed. Errors:
// kConfigInvalid (an override names an unknown profile, a non-https URL, a relative CA path); on
// error `config` is unchanged.
Status apply_kernel_command_line(const KernelCommandLine& cmdline, AgentConfig& config);

}  // namespace ccfde::agent
