// SPDX-License-Identifier: Apache-2.0
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
#include "ccfde/measure/evidence_source.h"

namespace ccfde::agent {

inline constexpr std::string_view kDefaultConfigPath = "/etc/cc-fde/config.json";
inline constexpr std::string_view kDefaultProfileName = "default";
// How many addresses one profile may list.
inline constexpr std::size_t kMaxBrokerUrls = 8;

enum class BrokerProtocol { kTrustee, kIta };

struct BrokerProfile {
  std::string name;
  BrokerProtocol protocol = BrokerProtocol::kTrustee;
  // https://host:port, no path; several addresses of one broker service (same CA and pins),
  // tried in this order (docs/CONFIGURATION.md, "Several broker addresses"). Never empty.
  std::vector<std::string> urls;
  std::filesystem::path ca_file;             // PEM bundle that signs the broker's certificate
  std::vector<std::string> pins;             // optional "sha256//<base64 SPKI digest>"
  std::filesystem::path client_certificate;  // optional mTLS, both or neither
  std::filesystem::path client_key;
  std::string proxy;                        // optional; empty: direct (the environment is ignored)
  std::chrono::seconds connect_timeout{5};  // per address: TCP + TLS, within the deadline
  std::chrono::seconds request_timeout{30};
  std::filesystem::path admin_token_file;  // optional: fdectl's resource uploads (never the agent)
  // What a LUKS2 token may ask this profile for: exact resource paths, or prefixes ending in '*'
  // ("default/fde/*"). Required: the header only selects among what the configuration allows.
  std::vector<std::string> resources;

  // Whether `resource` is one of `resources` (exact, or under a "prefix*" entry).
  bool allows_resource(std::string_view resource) const;
};

// The TEE whose evidence a profile sends, as configured: a TEE kind (kTdx, kSnp, or kSample for
// development only; never kNone), or std::nullopt for "auto" (the TEE measure::detect_platform
// finds). The names "auto", "tdx", "snp" and "sample" are read and written only by the two
// functions below, at the configuration, command-line and log boundaries (fdectl's --tee also
// lists them for CLI11's own check and message).
using TeeSelection = std::optional<measure::TeeKind>;

// "auto" -> std::nullopt, "tdx"/"snp"/"sample" -> that kind (measure::parse_attesting_tee); nullopt
// for any other text (exact, case-sensitive; "none" too). Callers report the error with the
// field and the value.
std::optional<TeeSelection> parse_tee_selection(std::string_view name) noexcept;

// The configuration name of `tee`: "auto" for std::nullopt, else measure::tee_kind_name.
std::string_view tee_selection_name(const TeeSelection& tee) noexcept;

struct EvidenceConfig {
  TeeSelection tee;  // default: auto
  bool send_event_log = true;
  std::filesystem::path platform_root;  // prefix for kernel interface paths; "" = "/" (tests)
  // "init_data": a file holding the Trustee init-data TOML whoever launched the VM supplied (e.g.
  // a QEMU fw_cfg item, /sys/firmware/qemu_fw_cfg/by_name/<name>/raw); "" = none. Read at unlock
  // time, checked against the evidence's MRCONFIGID/HOST_DATA, and sent with the evidence.
  std::filesystem::path init_data;
  // "init_data_smbios": the name of a systemd-style credential in the SMBIOS OEM strings
  // ("io.systemd.credential[.binary]:<name>=...", kbs-client/smbios_credential.h) that holds the
  // init-data; "" = none. At most one of init_data and init_data_smbios is set.
  std::string init_data_smbios;
};

// What fde-agent does with a volume it could not unlock before its deadline.
enum class FailureAction {
  kFail,    // fail: the unit fails and the boot stops (default: the host owns a CVM's console)
  kPrompt,  // prompt: leave the volume to the normal passphrase prompt
};

// A volume cc-fde must unlock (unlock.volumes): identified by its LUKS UUID, optionally bound to
// the profile and resource its token must name.
struct RequiredVolume {
  std::string uuid;      // lowercase 8-4-4-4-12
  std::string profile;   // "" = any profile
  std::string resource;  // "" = any resource the profile allows
};

// A per-VM state partition the agent creates at the VM's first boot (unlock.first_boot;
// docs/FIRST-BOOT.md): found by its GPT partition name, formatted as LUKS2 with the key `resource`
// of `profile` when it is blank, unlocked like any cc-fde volume afterwards.
struct FirstBootVolume {
  std::string partlabel;  // the GPT partition name (PARTNAME), [A-Za-z0-9_.-]{1,36}
  std::string name;       // the device-mapper name: /dev/mapper/<name>
  std::string profile = std::string("default");
  std::string resource;    // one resource of the profile (e.g. "init-data")
  std::string filesystem;  // "ext4" (default), "xfs" or "none" (LUKS2 only)
};

// The file systems unlock.first_boot can make, and the program each needs in the initramfs.
inline constexpr std::string_view kFirstBootFilesystems[] = {"ext4", "xfs", "none"};

struct UnlockConfig {
  std::chrono::seconds volume_timeout{120};   // per volume: fetch + activation
  std::chrono::seconds overall_timeout{300};  // the whole unlock run
  FailureAction failure_action = FailureAction::kFail;
  bool measure_unlock = true;              // extend RTMR3 + runtime event log after an unlock
  unsigned max_parallel_fetches = 4;       // concurrent key requests per profile
  std::vector<std::string> allowed_uuids;  // non-empty: only these LUKS UUIDs are unlocked
  std::filesystem::path crypttab = "/etc/crypttab";
  // Volumes that must be unlocked by cc-fde (the kernel command line may add, never remove).
  std::vector<RequiredVolume> volumes;
  // Per-VM state partitions made at the first boot (FirstBootVolume); each is a required volume.
  std::vector<FirstBootVolume> first_boot;
  // Whether the LUKS crypttab entries (without noauto, nofail, a key file, swap, tmp, plain) are
  // required volumes too.
  bool require_crypttab = true;
  // No key is fetched unless the end of the initramfs unlock phase can be recorded in RTMR3.
  bool require_phase_event = true;
  // crypttab "discard" is honoured only when true; the header's persistent flags never are.
  bool allow_discards = false;
  // Segment ciphers ("cipher-mode", as libcryptsetup reports them) and sector sizes allowed.
  std::vector<std::string> allowed_ciphers = {"aes-xts-plain64"};
  std::vector<unsigned> allowed_sector_sizes = {512, 4096};
  // The data segment integrity allowed: "none" (no dm-integrity), "hmac(sha256)",
  // "hmac(sha512)", "aead" (with an AEAD cipher such as aes-gcm-random). A list without "none"
  // requires integrity.
  std::vector<std::string> allowed_integrity = {"none"};
};

// Which rd.cc-fde.* options the kernel command line may set. Option names as on the command line
// without the prefix ("timeout", "volume-timeout", "debug", "config", "url", "ca", "tee",
// "failure", "measure") plus "disable" for rd.cc-fde=0.
struct CommandLinePolicy {
  std::vector<std::string> allow = {"timeout", "volume-timeout", "debug"};
  bool allows(std::string_view option) const;
};

struct AgentConfig {
  std::map<std::string, BrokerProfile, std::less<>> profiles;
  EvidenceConfig evidence;
  UnlockConfig unlock;
  CommandLinePolicy kernel_command_line;
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

// Reads and parses `path`, which must be a trusted file (check_trusted_file). Errors: kNotFound,
// kIoError, kConfigInvalid (not a trusted file), those of parse_config.
Result<AgentConfig> load_config(const std::filesystem::path& path);

// Reads and parses `path`, which must be a regular file (after following links), without the
// file-system check of load_config: for tools that read an image's configuration from outside the
// image (`fde-agent initramfs-files` at image build time). Errors: kNotFound, kIoError,
// kConfigInvalid (not a regular file), those of parse_config.
Result<AgentConfig> read_config_file(const std::filesystem::path& path);

// Files named by the configuration or the command line must come from the measured image: a
// regular file (after following links) on the file system of `root` (the initramfs, or the
// measured root after switch-root). Devices, FIFOs, sockets, directories and files on another file
// system (a disk the host attached, /proc, /sys) are refused. Errors: kNotFound, kIoError,
// kConfigInvalid naming the path and what it is.
Status check_trusted_file(const std::filesystem::path& path,
                          const std::filesystem::path& root = "/");

// check_trusted_file for every file `config` names that the agent reads at boot (each profile's
// ca_file, client_certificate, client_key). Errors: those of check_trusted_file, naming the key.
Status check_trusted_files(const AgentConfig& config, const std::filesystem::path& root = "/");

// A file the configuration names, with the setting that names it ("profiles/default/ca_file").
struct NamedFile {
  std::string setting;
  std::filesystem::path path;
};

// The files `config` names that fde-agent reads at boot, which its initramfs must carry (`fde-agent
// initramfs-files`): each profile's ca_file, client_certificate and client_key, and unlock.crypttab
// unless it is /etc/crypttab. Left out on purpose: /etc/crypttab, which the initramfs generator
// writes itself from the system's, filtered to the volumes the initramfs opens (dracut's crypt
// module; cryptroot's /cryptroot/crypttab), so copying the system's whole file would make every
// volume in it required at boot; admin_token_file, which only fdectl reads and which must never be
// in an image; evidence.platform_root, a directory prefix of kernel interfaces (tests). In the
// order of the profiles, each path once.
std::vector<NamedFile> boot_files(const AgentConfig& config);

// rd.cc-fde.* options from the kernel command line (docs/CONFIGURATION.md):
//   rd.cc-fde=0                      the agent does nothing
//   rd.cc-fde.config=PATH            another configuration file (inside the initramfs)
//   rd.cc-fde.url=[PROFILE=]URL[,URL...]  override a profile's broker URLs (default profile:
//                                    "default"), tried in order
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
  // Every cc-fde option given, by name ("timeout", "url", ..., "disable" for rd.cc-fde=), in
  // order, with the word as written (for messages).
  std::vector<std::pair<std::string, std::string>> options;
  // rd.luks.uuid= (luks.uuid= after switch-root): volumes the command line adds to the required
  // ones, lowercase.
  std::vector<std::string> luks_uuids;
  bool disabled = false;
  bool debug = false;
  std::optional<std::filesystem::path> config_path;
  std::map<std::string, std::vector<std::string>, std::less<>> urls_by_profile;
  std::map<std::string, std::filesystem::path, std::less<>> ca_by_profile;
  std::optional<TeeSelection> tee;  // set when rd.cc-fde.tee= is given (its value may be auto)
  std::optional<std::chrono::seconds> overall_timeout;
  std::optional<std::chrono::seconds> volume_timeout;
  std::optional<FailureAction> failure_action;
  std::optional<bool> measure_unlock;
};

// Parses /proc/cmdline text, split into words as systemd does (whitespace separates; single and
// double quotes group and are removed). A cc-fde word that contains a quote character is refused
// rather than guessed at. Errors: kConfigInvalid naming the option ("rd.cc-fde.timeout=abc: not a
// number of seconds").
Result<KernelCommandLine> parse_kernel_command_line(std::string_view text);

// Refuses every option of `cmdline` that `policy` does not allow. Errors: kConfigInvalid naming
// the first such word and the configuration's kernel_command_line.allow.
Status check_command_line_policy(const KernelCommandLine& cmdline, const CommandLinePolicy& policy,
                                 std::string_view origin);

// Applies the command-line overrides to `config` (after check_command_line_policy), re-validating
// what changed; rd.luks.uuid= values become required volumes. Errors: kConfigInvalid (an override
// names an unknown profile, a non-https URL, a relative CA path); on error `config` is unchanged.
Status apply_kernel_command_line(const KernelCommandLine& cmdline, AgentConfig& config);

// The configuration a program of cc-fde runs with, and what the command line said beyond it.
struct EffectiveConfig {
  AgentConfig config;
  bool disabled = false;  // rd.cc-fde=0, allowed by the configuration
  bool debug = false;
};

// The configuration file (`explicit_path` when given, else the default, else rd.cc-fde.config=
// when the default file's kernel_command_line.allow lets the command line name another) with the
// overrides of `cmdline_text` (/proc/cmdline) applied. Every cc-fde option of the command line must
// be allowed by the configuration, and every file it names must be a trusted file
// (check_trusted_files). Errors: those of load_config, parse_kernel_command_line,
// check_command_line_policy, apply_kernel_command_line and check_trusted_files; nothing is sent
// anywhere before this succeeds.
Result<EffectiveConfig> load_effective_config(const std::filesystem::path& explicit_path,
                                              std::string_view cmdline_text);

}  // namespace ccfde::agent
