// SPDX-License-Identifier: Apache-2.0
// fdectl enroll / list / test / rotate / unbind: the CLI over binding.h.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "ccfde/agent/binding.h"
#include "ccfde/agent/config.h"
#include "ccfde/agent/recovery_key.h"
#include "ccfde/common/encoding.h"
#include "cli_support.h"
#include "commands.h"

namespace ccfde::fdectl {
namespace {

using agent::BindingContext;
using agent::one_line_printable;

// The configuration and a broker-backed KeyService over it (heap-allocated: the service keeps a
// reference to the configuration, which must not move).
struct Session {
  std::unique_ptr<agent::AgentConfig> config;
  std::unique_ptr<agent::KeyService> keys;
};

Result<Session> open_session(const VolumeOptions& options) {
  Session session;
  CCFDE_ASSIGN_OR_RETURN(auto config, agent::load_config(options.config_file));
  session.config = std::make_unique<agent::AgentConfig>(std::move(config));
  if (session.config->evidence.tee == measure::TeeKind::kSample) {
    note(
        "WARNING: the configuration sends `sample` evidence (development only: no hardware, no "
        "security)");
  }
  session.keys = agent::make_broker_key_service(*session.config, options.admin_token_file,
                                                std::chrono::seconds(options.timeout_seconds),
                                                [](std::string_view line) { note(line); });
  return session;
}

BindingContext context_of(Session& session, const VolumeOptions& options) {
  BindingContext context{*session.config, *session.keys, options.backup_dir, {}};
  context.notice = [](std::string_view line) { note(line); };
  return context;
}

std::optional<int> token_of(const VolumeOptions& options) {
  return options.token >= 0 ? std::optional<int>(options.token) : std::nullopt;
}

void print_backup(const std::filesystem::path& backup) {
  if (!backup.empty()) std::printf("header backup: %s\n", backup.c_str());
}

std::string join(const std::vector<int>& numbers) {
  return numbers.empty() ? std::string("none") : fmt::format("{}", fmt::join(numbers, ", "));
}

// Prints the new recovery key once, on stdout only, with what to do with it. Returns 0, or after
// an error line 2 when stdout could not take it (the key is then lost: its keyslot must go).
int print_recovery_key(const agent::RecoveryKeyResult& added, const std::string& device) {
  std::printf(
      "recovery key added to %s: keyslot %d (token %d, systemd-recovery), created %s\n\n    ",
      device.c_str(), added.keyslot, added.token_id, added.created.c_str());
  const bool written =
      std::fwrite(added.key.data(), 1, added.key.size(), stdout) == added.key.size();
  std::printf(
      "\n\nStore this recovery key offline now (on paper or in an offline password manager): it is "
      "shown only this once and kept nowhere else. It opens the volume at a rescue console: "
      "`cryptsetup open %s NAME` and type it at the passphrase prompt. fde-agent never asks for "
      "it nor uses it.\n",
      device.c_str());
  if (!written || std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    return fail(make_error(ErrorCode::kIoError,
                           "the recovery key could not be printed and is lost; remove its keyslot "
                           "{} (`systemd-cryptenroll --wipe-slot={} {}` or `cryptsetup "
                           "luksKillSlot {} {}`) and run again",
                           added.keyslot, added.keyslot, device, device, added.keyslot));
  }
  return 0;
}

int add_recovery_key(const EnrollCommandOptions& options, Session& session,
                     const SecretBytes* unlock_secret, std::optional<int> token_id) {
  agent::RecoveryKeyOptions recovery;
  recovery.unlock_secret = unlock_secret;
  recovery.token_id = token_id;
  auto added =
      agent::add_recovery_key(options.volume.device, recovery, context_of(session, options.volume));
  if (!added.ok()) return fail(added.status().with_context("--recovery-key"));
  if (added->completed_interrupted) {
    std::printf("an interrupted recovery-key add was completed\n");
  }
  print_backup(added->backup);
  return print_recovery_key(*added, options.volume.device);
}

// `fdectl enroll DEVICE --recovery-key` without --resource: only the recovery key.
int run_add_recovery_key(const EnrollCommandOptions& options) {
  if (options.format || options.encrypt || options.remove_passphrase ||
      !options.integrity.empty() || options.force) {
    return fail(Status(ErrorCode::kInvalidArgument,
                       "--recovery-key without --resource only adds a recovery key: --format, "
                       "--encrypt, --integrity, --force and --remove-passphrase need --resource"));
  }
  auto unlock = read_option_secret(options.unlock_with, "--unlock-with");
  if (!unlock.ok()) return fail(unlock.status());
  auto session = open_session(options.volume);
  if (!session.ok()) return fail(session.status());
  return add_recovery_key(options, *session, unlock->empty() ? nullptr : &*unlock,
                          token_of(options.volume));
}

// Strings from the header (untrusted: any bytes) enter JSON in escape_nonprintable's form, which is
// valid UTF-8 and keeps every byte visible (JSON escapes the tab, CR and LF it leaves).
nlohmann::json token_json(const agent::ListedToken& token) {
  nlohmann::json out = {
      {"id", token.id}, {"type", escape_nonprintable(token.type)}, {"keyslots", token.keyslots}};
  if (token.cc_fde) {
    out["valid"] = true;
    out["profile"] = escape_nonprintable(token.cc_fde->profile);
    out["resource"] = escape_nonprintable(token.cc_fde->resource);
    out["state"] = std::string(agent::token_state_name(token.cc_fde->state));
    out["pending_keyslot"] = token.cc_fde->pending_keyslot
                                 ? nlohmann::json(*token.cc_fde->pending_keyslot)
                                 : nlohmann::json(nullptr);
  } else if (token.recovery) {
    out["recovery_key"] = {
        {"created", token.recovery->created.empty()
                        ? nlohmann::json(nullptr)
                        : nlohmann::json(escape_nonprintable(token.recovery->created))},
        {"pending_keyslot", token.recovery->pending_keyslot
                                ? nlohmann::json(*token.recovery->pending_keyslot)
                                : nlohmann::json(nullptr)}};
  } else if (token.error) {
    out["valid"] = false;
    out["error"] = {{"code", std::string(error_code_name(token.error->code()))},
                    {"message", escape_nonprintable(token.error->message())}};
  }
  return out;
}

void print_recovery_token(const std::string& device, const agent::ListedToken& token,
                          const agent::VolumeListing& listing) {
  const agent::RecoveryToken& recovery = *token.recovery;
  if (recovery.pending_keyslot) {
    std::printf(
        "token %d: recovery key (systemd-recovery), INTERRUPTED add of keyslot %d (its key was "
        "never shown): run `fdectl enroll %s --recovery-key` again\n",
        token.id, *recovery.pending_keyslot, device.c_str());
    return;
  }
  std::vector<std::string> slots;
  for (int slot : recovery.keyslots) {
    auto pbkdf = listing.keyslot_pbkdfs.find(slot);
    slots.push_back(fmt::format(
        "{} ({})", slot,
        pbkdf == listing.keyslot_pbkdfs.end() ? "not in use" : one_line_printable(pbkdf->second)));
  }
  std::printf("token %d: recovery key (systemd-recovery), keyslots %s, created %s\n", token.id,
              slots.empty() ? "none" : fmt::format("{}", fmt::join(slots, ", ")).c_str(),
              recovery.created.empty() ? "unknown" : one_line_printable(recovery.created).c_str());
}

}  // namespace

int run_enroll(const EnrollCommandOptions& options) {
  if (options.resource.empty()) {
    if (options.recovery_key) return run_add_recovery_key(options);
    return fail(Status(ErrorCode::kInvalidArgument,
                       "--resource is required (only `--recovery-key` alone goes without it)"));
  }
  if (options.volume.token >= 0) {
    return fail(Status(ErrorCode::kInvalidArgument,
                       "--token applies to `enroll --recovery-key` without --resource only"));
  }
  if (options.format && options.encrypt) {
    return fail(Status(ErrorCode::kInvalidArgument, "--format and --encrypt exclude each other"));
  }
  if (options.format && !options.yes) {
    return fail(make_error(ErrorCode::kInvalidArgument,
                           "--format destroys everything on {}: confirm with --yes",
                           options.volume.device));
  }
  if (options.force && !options.format) {
    return fail(Status(ErrorCode::kInvalidArgument, "--force only applies to --format"));
  }
  if (options.remove_passphrase && (options.format || options.encrypt)) {
    return fail(Status(ErrorCode::kInvalidArgument,
                       "--remove-passphrase applies to binding an existing volume only"));
  }
  agent::EnrollOptions enroll;
  if (!options.integrity.empty()) {
    auto layout = agent::parse_integrity_layout(options.integrity);
    if (!layout.ok()) return fail(layout.status().with_context("--integrity"));
    if (*layout != agent::IntegrityLayout::kNone && options.encrypt) {
      return fail(make_error(
          ErrorCode::kInvalidArgument,
          "--integrity {} cannot be combined with --encrypt: libcryptsetup cannot encrypt in "
          "place with integrity (dm-integrity must write a tag for every sector of an empty "
          "device); use --format on an empty device",
          options.integrity));
    }
    if (*layout != agent::IntegrityLayout::kNone && !options.format) {
      return fail(make_error(ErrorCode::kInvalidArgument,
                             "--integrity {} applies to --format only: an existing volume keeps "
                             "the integrity it was formatted with",
                             options.integrity));
    }
    enroll.format = agent::integrity_format_options(*layout);
  }
  enroll.profile = options.profile;
  enroll.resource = options.resource;
  enroll.key_source =
      options.key_source == "broker" ? agent::KeySource::kBroker : agent::KeySource::kGenerate;
  enroll.mode = options.format    ? agent::EnrollMode::kFormat
                : options.encrypt ? agent::EnrollMode::kEncrypt
                                  : agent::EnrollMode::kBind;
  enroll.remove_passphrase = options.remove_passphrase;
  enroll.force = options.force;
  auto unlock = read_option_secret(options.unlock_with, "--unlock-with");
  if (!unlock.ok()) return fail(unlock.status());
  if (!unlock->empty()) enroll.unlock_secret = &*unlock;
  auto session = open_session(options.volume);
  if (!session.ok()) return fail(session.status());
  auto result = agent::enroll(options.volume.device, enroll, context_of(*session, options.volume));
  if (!result.ok()) return fail(result.status());
  if (result->already_enrolled) {
    std::printf("%s (UUID %s) is already enrolled: token %d, keyslot %d, resource %s\n",
                options.volume.device.c_str(), one_line_printable(result->uuid).c_str(),
                result->token_id, result->keyslot, options.resource.c_str());
  } else {
    std::printf("enrolled %s (UUID %s): token %d, keyslot %d, resource %s of profile %s%s\n",
                options.volume.device.c_str(), one_line_printable(result->uuid).c_str(),
                result->token_id, result->keyslot, options.resource.c_str(),
                options.profile.c_str(),
                result->completed_interrupted ? " (an interrupted enroll was completed)" : "");
  }
  if (result->recovery_keyslot)
    std::printf("recovery passphrase: keyslot %d\n", *result->recovery_keyslot);
  if (result->removed_keyslot)
    std::printf("removed passphrase keyslot %d\n", *result->removed_keyslot);
  print_backup(result->backup);
  if (options.recovery_key) {
    // The broker key of the token just written authorises it (the unlock secret may be gone).
    return add_recovery_key(options, *session, nullptr, result->token_id);
  }
  return 0;
}

int run_list(const ListOptions& options) {
  auto listing = agent::list(options.device);
  if (!listing.ok()) return fail(listing.status());
  if (options.json) {
    nlohmann::json tokens = nlohmann::json::array();
    for (const auto& token : listing->tokens) tokens.push_back(token_json(token));
    nlohmann::json pbkdfs = nlohmann::json::object();
    for (const auto& [slot, pbkdf] : listing->keyslot_pbkdfs) {
      pbkdfs[std::to_string(slot)] = escape_nonprintable(pbkdf);
    }
    const nlohmann::json out = {{"device", options.device},
                                {"uuid", escape_nonprintable(listing->uuid)},
                                {"data_offset", listing->data_offset_bytes},
                                {"reencryption_in_progress", listing->reencryption_in_progress},
                                {"keyslots", listing->keyslots},
                                {"keyslot_pbkdf", pbkdfs},
                                {"tokens", tokens}};
    // Everything from the header is escaped above; `replace` only guards against a slip.
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%s: LUKS2, UUID %s, data offset %llu bytes%s\n", options.device.c_str(),
              one_line_printable(listing->uuid).c_str(),
              static_cast<unsigned long long>(listing->data_offset_bytes),
              listing->reencryption_in_progress ? ", ENCRYPTION IN PROGRESS" : "");
  std::printf("keyslots: %s\n", join(listing->keyslots).c_str());
  for (const auto& token : listing->tokens) {
    if (token.cc_fde) {
      const auto& cc = *token.cc_fde;
      std::string state(agent::token_state_name(cc.state));
      if (cc.pending_keyslot) state += fmt::format(", pending keyslot {}", *cc.pending_keyslot);
      std::printf("token %d: cc-fde, keyslots %s, profile %s, resource %s (%s)\n", token.id,
                  join(cc.keyslots).c_str(), one_line_printable(cc.profile).c_str(),
                  one_line_printable(cc.resource).c_str(), state.c_str());
    } else if (token.recovery) {
      print_recovery_token(options.device, token, *listing);
    } else if (token.error) {
      std::printf("token %d: cc-fde, INVALID: %s\n", token.id,
                  one_line_printable(token.error->to_string()).c_str());
    } else {
      std::printf("token %d: %s, keyslots %s\n", token.id, one_line_printable(token.type).c_str(),
                  join(token.keyslots).c_str());
    }
  }
  return 0;
}

int run_test(const VolumeOptions& options) {
  auto session = open_session(options);
  if (!session.ok()) return fail(session.status());
  auto result =
      agent::test_binding(options.device, token_of(options), context_of(*session, options));
  if (!result.ok()) return fail(result.status());
  std::printf(
      "ok: the key of %s (profile %s) opens keyslot %d of %s (token %d); nothing was "
      "activated\n",
      one_line_printable(result->resource).c_str(), one_line_printable(result->profile).c_str(),
      result->keyslot, options.device.c_str(), result->token_id);
  return 0;
}

int run_rotate(const VolumeOptions& options) {
  auto session = open_session(options);
  if (!session.ok()) return fail(session.status());
  auto result = agent::rotate(options.device, token_of(options), context_of(*session, options));
  if (!result.ok()) return fail(result.status());
  std::printf("rotated token %d of %s: keyslot %d replaced by keyslot %d%s\n", result->token_id,
              options.device.c_str(), result->old_keyslot, result->new_keyslot,
              result->completed_interrupted ? " (an interrupted rotation was completed)" : "");
  print_backup(result->backup);
  return 0;
}

int run_unbind(const VolumeOptions& options) {
  auto session = open_session(options);
  if (!session.ok()) return fail(session.status());
  auto result = agent::unbind(options.device, token_of(options), context_of(*session, options));
  if (!result.ok()) return fail(result.status());
  std::printf("unbound token %d of %s: removed keyslots %s%s\n", result->token_id,
              options.device.c_str(), join(result->removed_keyslots).c_str(),
              result->completed_interrupted ? " (an interrupted unbind was completed)" : "");
  print_backup(result->backup);
  return 0;
}

int run_reencrypt(const ReencryptCommandOptions& options) {
  agent::ReencryptOptions reencrypt;
  reencrypt.token_id = token_of(options.volume);
  reencrypt.drop_other_keyslots = options.drop_other_keyslots;
  auto recovery = read_option_secret(options.recovery_passphrase, "--recovery-passphrase");
  if (!recovery.ok()) return fail(recovery.status());
  if (!recovery->empty()) reencrypt.recovery_passphrase = &*recovery;
  auto session = open_session(options.volume);
  if (!session.ok()) return fail(session.status());
  auto result =
      agent::reencrypt(options.volume.device, reencrypt, context_of(*session, options.volume));
  if (!result.ok()) return fail(result.status());
  std::printf(
      "re-encrypted %s (UUID %s) with a new volume key: token %d, keyslot %d; destroyed the old "
      "key's keyslots %s%s\n",
      options.volume.device.c_str(), one_line_printable(result->uuid).c_str(), result->token_id,
      result->new_keyslot, join(result->old_keyslots).c_str(),
      result->completed_interrupted ? " (an interrupted volume-key change was completed)" : "");
  if (result->recovery_keyslot)
    std::printf("recovery passphrase: keyslot %d\n", *result->recovery_keyslot);
  print_backup(result->backup);
  return 0;
}

int run_fault_points() {
  if (!agent::fault_injection_compiled()) {
    return fail(Status(ErrorCode::kUnsupported, "fdectl was built without fault injection"));
  }
  for (std::string_view name : agent::fault_point_names()) {
    std::printf("%.*s\n", static_cast<int>(name.size()), name.data());
  }
  return 0;
}

}  // namespace ccfde::fdectl
