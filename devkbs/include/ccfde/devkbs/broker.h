// SPDX-License-Identifier: Apache-2.0
// devkbs, the development key broker: the Trustee KBS protocol 0.4.0 server side
// (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.2–§3.4, §3.12, §3.14), independent of HTTP so that it
// can be driven in-process. For tests and demos only: the resources it serves are whatever an
// administrator uploaded, and its attestation token is an HMAC-signed JWT that only this process
// can check.
//
// Endpoints (handle()):
//   POST   /kbs/v0/auth                 Request -> Challenge + Set-Cookie kbs-session-id
//   POST   /kbs/v0/attest               Attestation (cookie) -> {"token": ...}
//   GET    /kbs/v0/resource/<r>/<t>/<g> (cookie of an attested session) -> JWE
//   GET    /kbs/v0/provisioner/default/<uuid>/root (cookie of an attested session whose init-data
//          binds trustee.kbs.resource to kbs+provisioner:///default/<uuid>/root) -> JWE of a
//          confdata TOML document holding the VM's key, once an operator provisioned it
//          (Trustee's provisioner plugin: confidential-containers/trustee,
//          kbs/src/plugins/implementations/provisioner/mod.rs, commit 78962cd4), under devkbs's
//          once-per-VM first-boot rule (first_boot.h)
//   POST   /kbs/v0/provisioner/provision (admin) {"vm_name", "namespace"} -> the VM's key made
//   DELETE /kbs/v0/provisioner/provision/<uuid> (admin) -> the key and first-boot record removed
//   POST   /kbs/v0/resource/<r>/<t>/<g> (admin) raw bytes -> stored
//   DELETE /kbs/v0/resource/<r>/<t>/<g> (admin)
//   POST   /kbs/v0/resource-policy      (admin) policy document (policy.h) -> replaces the policy
//   GET    /kbs/v0/resource-policy      (admin) -> the policy document
// Errors are Trustee's ErrorInformation JSON, 401 except 404 for unknown plugins and paths.
//
// State directory layout: policy.json (0600), resources/<repo>/<type>/<tag> (0600, one file per
// resource, directories 0700), provisioner/default/<uuid>/root (0600, the confdata document) and
// provisioner/default/<uuid>/first-boot.json (0600, the VM's first-boot record, first_boot.h). In
// memory only, forgotten on restart: the sessions and the SEV-SNP per-launch release windows
// (SnpLaunchWindows in policy.h).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"
#include "ccfde/devkbs/first_boot.h"
#include "ccfde/devkbs/policy.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/snp_verify.h"
#include "ccfde/measure/tdx_collateral_verify.h"

namespace ccfde::devkbs {

struct BrokerOptions {
  std::filesystem::path state_dir;  // created (0700) if absent
  // Accept the `sample` TEE (no hardware evidence at all). Off by default.
  bool allow_sample = false;
  // PEM of the Intel SGX Root CA that TDX PCK chains must end at; empty: the production root.
  std::string tdx_root_pem;
  // Intel PCS collateral for TDX evidence (revocation, QE identity, TCB status), verified to the
  // TDX root at each attestation; absent: those are not checked (docs/BROKER-POLICY.md).
  std::optional<measure::TdxCollateral> tdx_collateral;
  // The TCB statuses accepted when tdx_collateral is set.
  measure::TdxTcbPolicy tdx_tcb_policy;
  // PEM with the AMD ASK (or ASVK) and ARK used when SNP evidence carries no ASK/ARK; empty: SNP
  // evidence must carry them in cert_chain.
  std::string snp_ca_pem;
  // TEST ONLY, INSECURE: trust the ARK of `snp_ca_pem` in place of AMD's pinned ARKs (an emulated
  // SNP platform's throwaway chain, tests/e2e). SNP evidence must then chain to exactly that ARK.
  // Requires `snp_ca_pem`.
  bool snp_ca_unpinned_test_only = false;
  // The bearer token of the admin API. Must not be empty.
  std::string admin_token;
  std::chrono::seconds session_timeout{300};
  // Wall clock for session expiry, token times and certificate validity (tests inject one).
  std::function<std::chrono::system_clock::time_point()> now;
};

struct BrokerRequest {
  std::string method;  // "GET", "POST", "DELETE"
  std::string path;    // without query string, e.g. /kbs/v0/auth
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct BrokerResponse {
  int status = 200;
  std::string content_type;  // empty: no body type
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Set-Cookie
};

// ErrorInformation {"type": kTrusteeErrorTypePrefix + variant, "detail": detail} with `status`
// (Trustee: 401 for every variant except InvalidRequestPath and PluginNotFound, 404).
BrokerResponse error_response(int status, std::string_view variant, std::string_view detail);

class Broker {
 public:
  // Creates the state directory if needed, loads policy.json (absent: an empty policy that denies
  // everything) and parses the configured roots. Errors: kInvalidArgument (empty admin token, a
  // policy.json or root PEM that does not parse), kIoError (state directory not creatable).
  static Result<std::unique_ptr<Broker>> create(BrokerOptions options);

  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  ~Broker();

  // Handles one request (thread-safe). Never throws; every failure is an ErrorInformation
  // response. Never puts resource bytes anywhere but the JWE of a successful GET.
  BrokerResponse handle(const BrokerRequest& request);

  // The number of live (unexpired) sessions, for tests.
  std::size_t session_count();

 private:
  struct Session {
    std::string nonce;
    measure::TeeKind tee = measure::TeeKind::kNone;
    nlohmann::json extra_params;
    std::chrono::system_clock::time_point expires;
    bool nonce_used = false;
    bool attested = false;
    nlohmann::json tee_pubkey;
    AttestedClaims claims;
    std::string token;
  };

  explicit Broker(BrokerOptions options);
  std::chrono::system_clock::time_point now() const;

  BrokerResponse auth(const BrokerRequest& request);
  BrokerResponse attest(const BrokerRequest& request);
  BrokerResponse get_resource(const BrokerRequest& request, std::string_view resource_path);
  BrokerResponse get_provisioned(const BrokerRequest& request, std::string_view resource_path);
  // The checks every attested GET shares: an attested, unexpired session for the cookie and the
  // resource policy for `policy_path`. On success fills `tee_pubkey` (and `claims` when not null)
  // and returns nothing; otherwise the error response.
  std::optional<BrokerResponse> authorize(const BrokerRequest& request,
                                          const std::string& policy_path,
                                          nlohmann::json& tee_pubkey, AttestedClaims* claims);
  // Trustee's provisioner, the operator's side (admin auth): POST /kbs/v0/provisioner/provision
  // makes the VM's key (once; a repeated request answers the same) and answers {uuid,
  // resource_path}; DELETE /kbs/v0/provisioner/provision/<uuid> removes it.
  BrokerResponse provision(const BrokerRequest& request);
  BrokerResponse deprovision(const BrokerRequest& request, std::string_view uuid);
  std::filesystem::path provisioned_file(std::string_view resource_path) const;
  // A fresh confdata document at provisioner path `resource_path`, unless one is there (a fresh
  // one replaces any first-boot record left of an earlier key).
  Status store_provisioned_if_absent(std::string_view resource_path);
  // The confdata document at provisioner path `resource_path`; kNotFound when never provisioned.
  // The caller holds mutex_.
  Result<SecretBytes> load_provisioned(std::string_view resource_path);
  // provisioner/default/<uuid>/first-boot.json, next to the key (first_boot.h).
  std::filesystem::path first_boot_file(std::string_view resource_path) const;
  // The VM's first-boot record (nullopt when it has none); kMalformed naming the file when it
  // cannot be read or parsed. The caller holds mutex_.
  Result<std::optional<FirstBootRecord>> load_first_boot_record(
      std::string_view resource_path) const;
  // The key of the VM at provisioner path `resource_path` for a guest with `claims`, under the
  // first-boot rule (admit_first_boot): the key is loaded, the record checked and, when it
  // changes, written, in that order and under mutex_; any failure leaves the record as it was and
  // releases nothing. kPolicyDenied for a first boot refused; other codes are the broker's errors.
  Result<SecretBytes> release_provisioned(std::string_view resource_path,
                                          const AttestedClaims& claims);
  // `file` relative to the state directory, for messages.
  std::string state_name(const std::filesystem::path& file) const;
  // The admin-auth refusal of `request`, or nothing when its bearer token is the admin token.
  std::optional<BrokerResponse> admin_refusal(const BrokerRequest& request) const;
  BrokerResponse admin(const BrokerRequest& request, std::string_view plugin,
                       std::string_view rest);

  Result<std::string> make_token(const Session& session);
  bool admin_authorized(const BrokerRequest& request) const;
  static std::optional<std::string> session_id(const BrokerRequest& request);
  void expire_sessions();

  std::filesystem::path resource_file(std::string_view resource_path) const;
  Status store_resource(std::string_view resource_path, std::span<const std::uint8_t> bytes);
  Status delete_resource(std::string_view resource_path);
  Result<SecretBytes> load_resource(std::string_view resource_path);
  Status save_policy(const ResourcePolicy& policy) const;

  BrokerOptions options_;
  X509Ptr tdx_root_;
  X509Ptr snp_ask_;
  X509Ptr snp_ark_;
  std::optional<measure::SnpArkFingerprint> snp_unpinned_test_ark_;
  SecretBytes token_key_;

  std::mutex mutex_;  // guards everything below and the state directory
  std::map<std::string, Session> sessions_;
  ResourcePolicy policy_;
  // SEV-SNP "initramfs" release windows, per launch (memory only: a restart forgets them).
  SnpLaunchWindows snp_launches_;
};

}  // namespace ccfde::devkbs
