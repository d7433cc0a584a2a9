// SPDX-License-Identifier: Apache-2.0
// libcryptsetup-token-cc-fde.so: the external LUKS2 token plugin for tokens of type "cc-fde"
// (the external token ABI of cryptsetup >= 2.4.0: cryptsetup/cryptsetup lib/libcryptsetup.h,
// section crypt-tokens, and lib/luks2/luks2_token.c at tag v2.4.0; as cc-fde uses it:
// docs/TOKEN-PLUGIN.md). libcryptsetup dlopens it when a header carries such a token, so
// `cryptsetup open`, systemd-cryptsetup and Debian's cryptroot unlock cc-fde volumes by themselves.
// What each failure looks like to the user: docs/TOKEN-PLUGIN.md. After it handed a volume's key
// to libcryptsetup it leaves an unlock mark in /run (unlock_marks.h), so that `fdectl status` does
// not call the mapping opened outside the broker.
//
// Rules for code in here: nothing may throw across the C ABI (every entry point catches
// everything); nothing is written to stdout/stderr except through crypt_log; the key exists
// outside SecretBytes only in the malloc'ed buffer handed to libcryptsetup, which gives it back
// to cryptsetup_token_buffer_free to be wiped; no thread outlives a call (the broker is destroyed
// before open returns).
#include <libcryptsetup.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/agent/key_broker.h"
#include "ccfde/agent/prompt_handoff.h"
#include "ccfde/agent/token.h"
#include "ccfde/agent/unlock.h"
#include "ccfde/agent/unlock_marks.h"
#include "ccfde/agent/unlock_measurement.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/secret_bytes.h"

#define CCFDE_TOKEN_EXPORT extern "C" __attribute__((visibility("default")))

namespace ccfde::agent {
namespace {

constexpr const char* kProcCmdline = "/proc/cmdline";

// Messages carry text from the header and the configuration: keep them printable and one line.
void log_line(crypt_device* cd, int level, std::string_view text) {
  std::string line = "cc-fde: " + escape_nonprintable(text);
  for (char& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  line += '\n';
  crypt_log(cd, level, line.c_str());
}

void log_error(crypt_device* cd, std::string_view what, const Status& status) {
  log_line(cd, CRYPT_LOG_ERROR, std::string(what) + ": " + status.to_string());
}

// Errors of the header / configuration phase: the token cannot be used as configured.
// libcryptsetup turns -EINVAL into -ENOENT ("no usable token").
constexpr int kErrnoBadInput = -EINVAL;

// Errors of the key fetch, by cause (docs/TOKEN-PLUGIN.md):
//   -EAGAIN  the broker or the TEE is not available now (network, deadline, no TEE interface, a
//            broker failing internally):
//            "resource not available", the caller falls back to another token or a passphrase;
//   -EPERM   the broker or its TLS identity refused or misbehaved (attestation or policy refusal,
//            CA/pin mismatch, malformed or undecryptable answer, a new session's token refused);
//   -ENOENT  the broker has no such resource;
//   -EINVAL  anything else (a bug, a bad resource name).
int fetch_errno(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kUnreachable:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
    case ErrorCode::kIoError:
    case ErrorCode::kDeviceError:
    case ErrorCode::kFirmwareError:
    case ErrorCode::kBusy:
    case ErrorCode::kBrokerInternal: return -EAGAIN;
    case ErrorCode::kAttestationRefused:
    case ErrorCode::kPolicyDenied:
    case ErrorCode::kPolicyViolation:
    case ErrorCode::kTlsTrustFailure:
    case ErrorCode::kPinMismatch:
    case ErrorCode::kProtocolVersionMismatch:
    case ErrorCode::kMalformedResponse:
    case ErrorCode::kDecryptionFailed:
    case ErrorCode::kSessionRejected: return -EPERM;
    case ErrorCode::kResourceNotFound: return -ENOENT;
    default: return -EINVAL;
  }
}

// The configuration as the agent sees it (load_effective_config).
Result<EffectiveConfig> effective_config() {
  std::string cmdline_text;
  if (auto bytes = read_file(kProcCmdline, std::size_t{1} << 16); bytes.ok()) {
    cmdline_text.assign(as_chars(*bytes));
  } else if (bytes.status().code() != ErrorCode::kNotFound) {
    return bytes.status().with_context(kProcCmdline);
  }
  return load_effective_config({}, cmdline_text);
}

int open_token(crypt_device* cd, int token, char** buffer, size_t* buffer_len) {
  const char* json = nullptr;
  if (const int r = crypt_token_json_get(cd, token, &json); r < 0 || json == nullptr) {
    log_line(cd, CRYPT_LOG_ERROR,
             "cannot read token " + std::to_string(token) + " from the LUKS2 header");
    return kErrnoBadInput;
  }
  auto parsed = parse_token(json);
  if (!parsed.ok()) {
    log_error(cd, "token " + std::to_string(token), parsed.status());
    return kErrnoBadInput;
  }
  const CcFdeToken& cc_token = *parsed;

  auto effective = effective_config();
  if (!effective.ok()) {
    log_error(cd, "configuration", effective.status());
    return kErrnoBadInput;
  }
  if (effective->disabled) {
    log_line(cd, CRYPT_LOG_VERBOSE, "disabled on the kernel command line (rd.cc-fde=0)");
    return -EAGAIN;
  }
  const AgentConfig* config = &effective->config;
  // The same token-state rule as fde-agent: an interrupted enroll, rotate or unbind is finished
  // with fdectl first, never guessed at.
  if (cc_token.state != TokenState::kComplete || cc_token.keyslots.empty()) {
    log_line(cd, CRYPT_LOG_ERROR,
             "token " + std::to_string(token) + " is in state '" +
                 std::string(token_state_name(cc_token.state)) +
                 "': re-run the interrupted fdectl command first");
    return -EPERM;
  }
  const char* uuid = crypt_get_uuid(cd);
  const std::string volume_uuid = uuid == nullptr ? "" : uuid;
  if (prompt_handed_off_in_initrd(PromptHandoffPaths{}, volume_uuid)) {
    log_line(cd, CRYPT_LOG_NORMAL,
             "fde-agent already gave volume " + volume_uuid +
                 " up in this initramfs (failure_action prompt): not trying the broker again");
    return -EAGAIN;
  }
  const auto& allowed = config->unlock.allowed_uuids;
  if (!allowed.empty()) {
    if (std::find(allowed.begin(), allowed.end(), volume_uuid) == allowed.end()) {
      log_line(cd, CRYPT_LOG_ERROR,
               "volume " + volume_uuid +
                   " is not in the configuration's allowed_uuids: refusing to fetch its key");
      return -EPERM;
    }
  }
  auto profile = config->profile(cc_token.profile);
  if (!profile.ok()) {
    log_error(cd, "token " + std::to_string(token), profile.status());
    return kErrnoBadInput;
  }
  // The header selects, the configuration decides: the same rules as fde-agent, before any
  // evidence is sent.
  VolumeCandidate candidate;
  candidate.device = crypt_get_device_name(cd) != nullptr ? crypt_get_device_name(cd) : "";
  candidate.uuid = volume_uuid;
  candidate.token_id = token;
  candidate.token = cc_token;
  const char* cipher = crypt_get_cipher(cd);
  const char* mode = crypt_get_cipher_mode(cd);
  candidate.cipher = cipher != nullptr && mode != nullptr ? std::string(cipher) + "-" + mode : "";
  candidate.sector_size = static_cast<unsigned>(std::max(crypt_get_sector_size(cd), 0));
  const auto required = required_volumes(*config, {});
  if (auto refused = refuse_header(candidate, *config, required)) {
    log_error(cd, "token " + std::to_string(token), *refused);
    return -EPERM;
  }
  UnlockMeasurementOptions measurement;
  measurement.root = config->evidence.platform_root;
  if (Status window = release_window_status(
          *config, [&measurement] { return rtmr3_extension_available(measurement); });
      !window.ok()) {
    log_error(cd, "volume " + volume_uuid, window);
    return -EPERM;
  }

  const auto deadline = SteadyClock::now() + config->unlock.volume_timeout;
  log_line(cd, CRYPT_LOG_VERBOSE,
           "fetching resource " + cc_token.resource + " from profile " + cc_token.profile);
  std::vector<Result<SecretBytes>> results;
  {
    auto broker = make_key_broker(**profile, config->evidence, 1);
    if (!broker.ok()) {
      log_error(cd, "profile " + cc_token.profile, broker.status());
      return broker.status().code() == ErrorCode::kConfigInvalid ? kErrnoBadInput
                                                                 : fetch_errno(broker.status());
    }
    const std::vector<std::string> resources{cc_token.resource};
    results = (*broker)->fetch(resources, deadline);
    for (const std::string& note : (*broker)->take_notes())
      log_line(cd, CRYPT_LOG_VERBOSE, "profile " + cc_token.profile + ": " + note);
  }  // the broker (and any worker it ran) is gone before the key leaves
  if (results.size() != 1) {
    log_line(cd, CRYPT_LOG_ERROR, "internal error: the broker returned no result");
    return -EINVAL;
  }
  if (!results[0].ok()) {
    log_error(cd, "fetching " + cc_token.resource + " from profile " + cc_token.profile,
              results[0].status());
    return fetch_errno(results[0].status());
  }
  const SecretBytes& key = results[0].value();
  if (key.empty()) {
    log_line(cd, CRYPT_LOG_ERROR, "the broker returned an empty key for " + cc_token.resource);
    return -EPERM;
  }
  // The only copy outside SecretBytes: libcryptsetup owns it from here and hands it back to
  // cryptsetup_token_buffer_free.
  char* out = static_cast<char*>(std::malloc(key.size()));
  if (out == nullptr) return -ENOMEM;
  std::memcpy(out, key.data(), key.size());
  *buffer = out;
  *buffer_len = key.size();
  log_line(cd, CRYPT_LOG_VERBOSE, "key for " + cc_token.resource + " fetched");
  // The unlock mark (unlock_marks.h) that lets fdectl status and phase-end tell this volume from
  // one opened outside the broker. The mapping name is libcryptsetup's to know, not ours.
  if (const Status marked = write_unlock_mark({}, UnlockOpener::kTokenPlugin, "", volume_uuid);
      !marked.ok()) {
    log_line(cd, CRYPT_LOG_NORMAL,
             "warning: volume " + volume_uuid +
                 " will look opened outside the broker: its unlock mark was not written: " +
                 marked.to_string());
  }
  return 0;
}

}  // namespace
}  // namespace ccfde::agent

CCFDE_TOKEN_EXPORT const char* cryptsetup_token_version(void) {
  return "cc-fde " CCFDE_VERSION;
}

CCFDE_TOKEN_EXPORT int cryptsetup_token_open_pin(struct crypt_device* cd, int token,
                                                 const char* /*pin*/, size_t /*pin_size*/,
                                                 char** buffer, size_t* buffer_len,
                                                 void* /*usrptr*/) {
  if (buffer == nullptr || buffer_len == nullptr) return -EINVAL;
  try {
    return ccfde::agent::open_token(cd, token, buffer, buffer_len);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (const std::exception& error) {
    ccfde::agent::log_line(cd, CRYPT_LOG_ERROR, std::string("internal error: ") + error.what());
    return -EINVAL;
  } catch (...) {
    ccfde::agent::log_line(cd, CRYPT_LOG_ERROR, "internal error");
    return -EINVAL;
  }
}

// No PIN is involved: the key comes from attestation.
CCFDE_TOKEN_EXPORT int cryptsetup_token_open(struct crypt_device* cd, int token, char** buffer,
                                             size_t* buffer_len, void* usrptr) {
  return cryptsetup_token_open_pin(cd, token, nullptr, 0, buffer, buffer_len, usrptr);
}

CCFDE_TOKEN_EXPORT void cryptsetup_token_buffer_free(void* buffer, size_t buffer_len) {
  if (buffer == nullptr) return;
  OPENSSL_cleanse(buffer, buffer_len);
  std::free(buffer);
}

CCFDE_TOKEN_EXPORT int cryptsetup_token_validate(struct crypt_device* cd, const char* json) {
  try {
    if (json == nullptr) return 1;
    auto parsed = ccfde::agent::parse_token(json);
    if (!parsed.ok()) {
      ccfde::agent::log_error(cd, "invalid token", parsed.status());
      return 1;
    }
    return 0;
  } catch (...) {
    return 1;
  }
}

CCFDE_TOKEN_EXPORT void cryptsetup_token_dump(struct crypt_device* cd, const char* json) {
  try {
    if (json == nullptr) return;
    auto parsed = ccfde::agent::parse_token(json);
    if (!parsed.ok()) {
      crypt_log(cd, CRYPT_LOG_NORMAL,
                ("\tinvalid cc-fde token: " +
                 ccfde::escape_nonprintable(parsed.status().to_string()) + "\n")
                    .c_str());
      return;
    }
    // parse_token admits printable ASCII only in these members.
    const auto& token = *parsed;
    std::string text =
        "\tcc-fde version: " + std::to_string(ccfde::agent::kTokenSchemaVersion) +
        "\n\tprofile:        " + token.profile + "\n\tresource:       " + token.resource +
        "\n\tstate:          " + std::string(ccfde::agent::token_state_name(token.state)) + "\n";
    if (token.pending_keyslot) {
      text += "\tpending keyslot: " + std::to_string(*token.pending_keyslot) + "\n";
    }
    crypt_log(cd, CRYPT_LOG_NORMAL, text.c_str());
  } catch (...) {
    crypt_log(cd, CRYPT_LOG_NORMAL, "\tcc-fde: cannot dump this token\n");
  }
}
