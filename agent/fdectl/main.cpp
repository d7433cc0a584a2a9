// SPDX-License-Identifier: Apache-2.0
// fdectl: the operator's tool for cc-fde volumes: enroll, list, test, rotate, reencrypt, unbind,
// status, and `kbs get` (attest and fetch one resource).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "ccfde/common/guarded_main.h"
#include "cli_support.h"
#include "commands.h"
#include "status.h"

namespace {

using namespace ccfde::fdectl;

// --config, --backup-dir, --admin-token-file, --timeout (as the command needs them).
void add_volume_options(CLI::App* command, VolumeOptions& options, bool changes_header,
                        bool uploads) {
  command->add_option("DEVICE", options.device, "LUKS2 block device or image file")->required();
  command->add_option("--config", options.config_file,
                      "Agent configuration (default /etc/cc-fde/config.json)");
  command->add_option("--timeout", options.timeout_seconds,
                      "Deadline of each broker exchange in seconds (default 60)");
  if (changes_header) {
    command->add_option("--backup-dir", options.backup_dir,
                        "Where the header backup goes before any change (default "
                        "/var/lib/cc-fde/header-backups)");
  }
  if (uploads) {
    command->add_option("--admin-token-file", options.admin_token_file,
                        "Broker admin token for uploads (overrides the profile's "
                        "admin_token_file)");
  }
}

void add_token_option(CLI::App* command, VolumeOptions& options) {
  command
      ->add_option("--token", options.token,
                   "The cc-fde token to act on (default: the volume's only one)")
      ->check(CLI::Range(0, 31));
}

int run_main(int argc, char** argv) {
  CLI::App app{
      "fdectl: manage cc-fde encrypted volumes.\n"
      "Exit status: 0 success, 1 the broker refused, 2 bad input or error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fdectl 0.1.0");

  EnrollCommandOptions enroll;
  auto* enroll_command = app.add_subcommand(
      "enroll",
      "Bind a LUKS2 volume to a key broker resource (or create one: --format, --encrypt)");
  add_volume_options(enroll_command, enroll.volume, true, true);
  enroll_command->add_option("--profile", enroll.profile,
                             "Broker profile of the configuration (default \"default\")");
  enroll_command->add_option(
      "--resource", enroll.resource,
      "Resource: REPO/TYPE/TAG, kbs:///REPO/TYPE/TAG, kbs+provisioner:///REPO/TYPE/TAG or "
      "init-data (required unless --recovery-key alone)");
  enroll_command
      ->add_option("--key-source", enroll.key_source,
                   "generate: a new random key uploaded through the admin API (default); broker: "
                   "the existing resource, fetched through attestation")
      ->check(CLI::IsMember({"generate", "broker"}));
  enroll_command->add_option(
      "--unlock-with", enroll.unlock_with,
      "File holding an existing passphrase or key (its exact bytes: a trailing newline counts); "
      "with --format/--encrypt it becomes a recovery keyslot");
  enroll_command->add_flag(
      "--format", enroll.format,
      "Write a new LUKS2 header over DEVICE (destroys its content; needs --yes)");
  enroll_command->add_option(
      "--integrity", enroll.integrity,
      "With --format: authenticated encryption (dm-integrity; needs device-mapper, wipes the "
      "whole device): hmac-sha256 (aes-xts-plain64 + hmac(sha256)), aes-gcm-random (AES-256-GCM, "
      "integrity aead), none (default)");
  enroll_command->add_flag("--encrypt", enroll.encrypt,
                           "Encrypt the filesystem on DEVICE in place (it must leave the last 32 "
                           "MiB free); resumable");
  enroll_command->add_flag("--remove-passphrase", enroll.remove_passphrase,
                           "After the new keyslot is verified, remove the keyslot --unlock-with "
                           "opens");
  enroll_command->add_flag("--yes", enroll.yes, "Confirm --format");
  enroll_command->add_flag("--force", enroll.force,
                           "With --format: overwrite an existing LUKS header too");
  enroll_command->add_flag(
      "--recovery-key", enroll.recovery_key,
      "Also add a recovery key for offline rescue (argon2id keyslot, systemd-recovery token), "
      "printed once on stdout: store it offline. Without --resource only adds the recovery key, "
      "authorised by --unlock-with or else by the broker key of the cc-fde token (--token). "
      "fde-agent never uses it");
  add_token_option(enroll_command, enroll.volume);

  ListOptions list;
  auto* list_command = app.add_subcommand("list", "Show a volume's keyslots and tokens");
  list_command->add_option("DEVICE", list.device, "LUKS2 block device or image file")->required();
  list_command->add_flag("--json", list.json, "JSON output");

  VolumeOptions test;
  auto* test_command = app.add_subcommand(
      "test", "Attest, fetch the key and verify it opens its keyslot (activates nothing)");
  add_volume_options(test_command, test, false, false);
  add_token_option(test_command, test);

  VolumeOptions rotate;
  auto* rotate_command =
      app.add_subcommand("rotate", "Replace the broker key and its keyslot (new first, old last)");
  add_volume_options(rotate_command, rotate, true, true);
  add_token_option(rotate_command, rotate);

  VolumeOptions unbind;
  auto* unbind_command = app.add_subcommand(
      "unbind", "Remove a cc-fde token and its keyslots (never the last way in)");
  add_volume_options(unbind_command, unbind, true, false);
  add_token_option(unbind_command, unbind);

  ReencryptCommandOptions reencrypt;
  auto* reencrypt_command = app.add_subcommand(
      "reencrypt",
      "Change the volume key: re-encrypt every sector (online if the volume is open); old "
      "headers and every other keyslot stop opening the data (resumable)");
  add_volume_options(reencrypt_command, reencrypt.volume, true, false);
  add_token_option(reencrypt_command, reencrypt.volume);
  reencrypt_command->add_option("--recovery-passphrase", reencrypt.recovery_passphrase,
                                "File holding a passphrase (its exact bytes) for a recovery "
                                "keyslot of the new volume key");
  reencrypt_command->add_flag("--drop-other-keyslots", reencrypt.drop_other_keyslots,
                              "Confirm that keyslots other than the token's (passphrases) are "
                              "destroyed with the old volume key");

  StatusOptions status;
  auto* status_command = app.add_subcommand(
      "status", "The cc-fde volumes of this system, their last unlock and the agent's units");
  status_command->add_flag("--json", status.json, "JSON output");

  auto* kbs = app.add_subcommand("kbs", "Talk to a key broker");
  kbs->require_subcommand(1);
  KbsGetOptions get;
  auto* get_command =
      kbs->add_subcommand("get", "Attest this VM and fetch one resource from a key broker");
  std::vector<CLI::Option*> direct;
  direct.push_back(
      get_command->add_option("--url", get.url, "Broker base URL, e.g. https://kbs.example:8080"));
  get_command
      ->add_option("--resource", get.resource,
                   "Resource: REPO/TYPE/TAG, kbs:///REPO/TYPE/TAG, "
                   "kbs+provisioner:///REPO/TYPE/TAG or init-data (Trustee), or a key id (ITA)")
      ->required();
  direct.push_back(get_command->add_option("--ca", get.ca_file,
                                           "CA bundle (PEM) that signs the broker's certificate"));
  direct.push_back(get_command->add_option(
      "--pin", get.pins, "Pin the broker's public key: sha256//BASE64 of its SPKI (repeatable)"));
  direct.push_back(get_command
                       ->add_option_function<std::string>(
                           "--tee",
                           [&get](const std::string& name) {
                             // After IsMember the name always parses.
                             const auto tee = ccfde::agent::parse_tee_selection(name);
                             if (!tee) throw CLI::ValidationError("--tee", "unknown TEE " + name);
                             get.tee = *tee;
                           },
                           "Evidence: auto, tdx, snp or sample (development only)")
                       ->check(CLI::IsMember({"auto", "tdx", "snp", "sample"})));
  direct.push_back(
      get_command->add_option("--protocol", get.protocol, "Broker protocol: trustee or ita")
          ->check(CLI::IsMember({"trustee", "ita"})));
  direct.push_back(get_command->add_option("--platform-root", get.platform_root,
                                           "Prefix for kernel interface paths (testing)"));
  direct.push_back(get_command->add_option(
      "--init-data", get.init_data_file,
      "Trustee init-data TOML to send; its digest must be in MRCONFIGID (TDX) or HOST_DATA (SNP)"));
  direct.push_back(
      get_command->add_option("--init-data-smbios", get.init_data_smbios,
                              "Take the init-data from this credential of the SMBIOS OEM strings "
                              "(io.systemd.credential[.binary]:NAME=...)"));
  direct.push_back(get_command->add_flag("--insecure-http", get.insecure_http,
                                         "Allow a plain http:// URL (INSECURE: development only)"));
  get_command->add_option("--config", get.config_file,
                          "Take the broker from this configuration's profile instead of flags");
  get_command->add_option("--profile", get.profile,
                          "The configuration's broker profile (default \"default\")");
  get_command->add_option("--out", get.out_file,
                          "Write the resource to FILE (mode 0600); default: print only its "
                          "length");
  get_command->add_option("--timeout", get.timeout_seconds,
                          "Overall deadline in seconds, retries included (default 60)");

  // Hidden: the crash-injection fault points of a fault-injection build (tests).
  auto* debug = app.add_subcommand("debug", "")->group("");
  debug->require_subcommand(1);
  auto* fault_points_command = debug->add_subcommand("fault-points", "");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  // Before any key exists: not dumpable, no core file, memory locked (protect_key_process). Only
  // the commands that fetch or create keys warn when memory cannot be locked.
  const bool handles_keys =
      *enroll_command || *test_command || *rotate_command || *reencrypt_command || *get_command;
  if (!protect_process(handles_keys)) return 2;
  if (*enroll_command) return run_enroll(enroll);
  if (*list_command) return run_list(list);
  if (*test_command) return run_test(test);
  if (*rotate_command) return run_rotate(rotate);
  if (*unbind_command) return run_unbind(unbind);
  if (*reencrypt_command) return run_reencrypt(reencrypt);
  if (*status_command) return run_status(status);
  if (*get_command) {
    for (const CLI::Option* option : direct) get.direct_flags_given |= option->count() > 0;
    return run_kbs_get(get);
  }
  if (*fault_points_command) return run_fault_points();
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  return ccfde::guarded_main("fdectl", 2, run_main, argc, argv);
}
