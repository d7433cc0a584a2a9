// SPDX-License-Identifier: Apache-2.0
// The fdectl subcommands. Each returns the process exit status: 0 success, 1 the broker refused
// (attestation, policy, resource), 2 bad input or any other error; errors are printed once as
// "fdectl: <code_name>: <message>".
#pragma once

#include <string>
#include <vector>

#include "ccfde/agent/binding.h"
#include "ccfde/agent/config.h"

namespace ccfde::fdectl {

struct KbsGetOptions {
  // Direct mode: the broker given by flags.
  std::string url;
  std::string ca_file;
  std::vector<std::string> pins;  // sha256//BASE64 of the broker's SPKI
  agent::TeeSelection tee;        // --tee auto (default) | tdx | snp | sample
  std::string protocol = "trustee";
  std::string platform_root;
  std::string init_data_file;    // Trustee init-data TOML to bind and send ("" = none)
  std::string init_data_smbios;  // or the SMBIOS credential that holds it ("" = none)
  bool insecure_http = false;
  // Profile mode (--config and/or --profile): the broker, CA, pins, protocol and evidence come
  // from the configuration's profile; the direct-mode flags above are then refused.
  std::string config_file;
  std::string profile;
  // any of --url --ca --pin --tee --protocol --platform-root --init-data --init-data-smbios
  bool direct_flags_given = false;
  std::string resource;
  std::string out_file;
  unsigned timeout_seconds = 60;
};
int run_kbs_get(const KbsGetOptions& options);

// Options every volume command shares.
struct VolumeOptions {
  std::string device;
  std::string config_file = std::string(agent::kDefaultConfigPath);
  std::string backup_dir = std::string(agent::kDefaultHeaderBackupDir);
  std::string admin_token_file;  // overrides the profile's admin_token_file
  unsigned timeout_seconds = 60;
  int token = -1;  // --token N; -1: the volume's only cc-fde token
};

struct EnrollCommandOptions {
  VolumeOptions volume;
  std::string profile = std::string(agent::kDefaultProfileName);
  std::string resource;
  std::string key_source = "generate";  // generate | broker
  std::string unlock_with;              // file: passphrase or key file, exact bytes
  std::string integrity;                // "" | none | hmac-sha256 | aes-gcm-random (--format)
  bool format = false;
  bool encrypt = false;
  bool remove_passphrase = false;
  bool yes = false;
  bool force = false;
  // Add an operator's recovery key (recovery_key.h), printed once on stdout. Without --resource
  // only that: authorised by --unlock-with or by the broker key of the cc-fde token (--token).
  bool recovery_key = false;
};
int run_enroll(const EnrollCommandOptions& options);

struct ListOptions {
  std::string device;
  bool json = false;
};
int run_list(const ListOptions& options);

int run_test(const VolumeOptions& options);
int run_rotate(const VolumeOptions& options);
int run_unbind(const VolumeOptions& options);

struct ReencryptCommandOptions {
  VolumeOptions volume;
  std::string recovery_passphrase;  // file: a passphrase for the new key, exact bytes
  bool drop_other_keyslots = false;
};
int run_reencrypt(const ReencryptCommandOptions& options);

// fdectl debug fault-points (hidden): the fault point names, one per line, in fault-injection
// builds; exit 2 with kUnsupported otherwise.
int run_fault_points();

}  // namespace ccfde::fdectl
