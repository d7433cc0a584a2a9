// SPDX-License-Identifier: Apache-2.0
#include "ccfde/devkbs/broker.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <system_error>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/devkbs/first_boot.h"
#include "ccfde/kbs-client/init_data.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/kbs-client/resource_path.h"
#include "ccfde/kbs-client/runtime_data.h"
#include "ccfde/kbs-client/trustee_messages.h"
#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_verify.h"
#include "ccfde/measure/tdx_verify.h"
#include "evidence_verifier.h"
#include "private_files.h"
#include "provisioner.h"

namespace ccfde::devkbs {
namespace {

constexpr std::string_view kApiPrefix = "/kbs/v0/";
constexpr std::string_view kSessionCookie = "kbs-session-id";
constexpr std::size_t kMaxResourceSize = std::size_t{4} << 20;

// Error variants of Trustee's kbs/src/error.rs.
constexpr std::string_view kAttestationError = "AttestationError";
constexpr std::string_view kTokenNotFound = "TokenNotFound";
constexpr std::string_view kPolicyDeny = "PolicyDeny";
constexpr std::string_view kPluginInternalError = "PluginInternalError";
constexpr std::string_view kPluginNotFound = "PluginNotFound";
constexpr std::string_view kInvalidRequestPath = "InvalidRequestPath";
constexpr std::string_view kAdminAuthAccess = "AdminAuthAccess";
constexpr std::string_view kParsePolicyError = "ParsePolicyError";
constexpr std::string_view kJweError = "JweError";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> find_header(const BrokerRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

Result<Bytes> random_bytes(std::size_t size) {
  Bytes bytes(size);
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "RAND_bytes");
  }
  return bytes;
}

// RFC 7231 IMF-fixdate, for the cookie's Expires attribute.
std::string http_date(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  const std::size_t size = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return std::string(buffer, size);
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

BrokerResponse json_response(const nlohmann::json& body) {
  return {200,
          "application/json",
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          {}};
}

}  // namespace

BrokerResponse error_response(int status, std::string_view variant, std::string_view detail) {
  return {status,
          "application/json",
          kbs_client::make_error_information(variant, escape_nonprintable(detail)),
          {}};
}

namespace {

// The answer to an attested GET of a plugin's secret: `secret` sealed to the session's TEE key as
// a JWE, or the plugin's internal error when it could not be read or made.
BrokerResponse sealed_response(const Result<SecretBytes>& secret,
                               const nlohmann::json& tee_pubkey) {
  if (!secret.ok()) {
    return error_response(401, kPluginInternalError,
                          "Plugin internal error: " + secret.status().message());
  }
  auto jwe = kbs_client::encrypt_jwe(secret->span(), tee_pubkey);
  if (!jwe.ok()) return error_response(401, kJweError, "JWE error: " + jwe.status().message());
  return json_response(*jwe);
}

}  // namespace

Broker::Broker(BrokerOptions options) : options_(std::move(options)) {}
Broker::~Broker() = default;

Result<std::unique_ptr<Broker>> Broker::create(BrokerOptions options) {
  if (options.admin_token.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "devkbs: the admin token must not be empty");
  }
  if (options.state_dir.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "devkbs: a state directory is required");
  }
  if (!options.now) options.now = [] { return std::chrono::system_clock::now(); };
  CCFDE_RETURN_IF_ERROR(make_private_directories(options.state_dir));

  std::unique_ptr<Broker> broker(new Broker(std::move(options)));
  const BrokerOptions& opts = broker->options_;
  if (opts.tdx_root_pem.empty()) {
    CCFDE_ASSIGN_OR_RETURN(broker->tdx_root_, measure::intel_sgx_root_ca());
  } else {
    auto roots = measure::parse_pem_certificates(as_bytes(opts.tdx_root_pem));
    if (!roots.ok()) return roots.status().with_context("TDX root");
    if (roots->size() != 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "TDX root: expected exactly one certificate, found {}", roots->size());
    }
    broker->tdx_root_ = std::move(roots->front());
  }
  if (!opts.snp_ca_pem.empty()) {
    auto ca = measure::parse_snp_ca_pem(as_bytes(opts.snp_ca_pem));
    if (!ca.ok()) return ca.status().with_context("SNP CA");
    broker->snp_ask_ = std::move(ca->ask);
    broker->snp_ark_ = std::move(ca->ark);
  }
  if (opts.snp_ca_unpinned_test_only) {
    if (!broker->snp_ark_) {
      return make_error(ErrorCode::kInvalidArgument,
                        "devkbs: trusting an unpinned SNP ARK (TEST ONLY) needs the SNP CA PEM "
                        "that holds it");
    }
    const auto fingerprint = measure::certificate_fingerprint(broker->snp_ark_.get());
    measure::SnpArkFingerprint ark{};
    std::copy_n(fingerprint.begin(), std::min(fingerprint.size(), ark.size()), ark.begin());
    broker->snp_unpinned_test_ark_ = ark;
  }
  CCFDE_ASSIGN_OR_RETURN(auto key, random_bytes(32));
  broker->token_key_ = SecretBytes::copy_of(key);
  OPENSSL_cleanse(key.data(), key.size());

  const auto policy_path = opts.state_dir / "policy.json";
  std::error_code error;
  if (std::filesystem::exists(policy_path, error)) {
    CCFDE_ASSIGN_OR_RETURN(auto text, read_file(policy_path, std::size_t{1} << 20));
    const auto json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded()) {
      return make_error(ErrorCode::kInvalidArgument, "{}: not JSON", policy_path.string());
    }
    auto policy = parse_resource_policy(json);
    if (!policy.ok()) return policy.status().with_context(policy_path.string());
    broker->policy_ = std::move(*policy);
  }
  CCFDE_RETURN_IF_ERROR(make_private_directories(opts.state_dir / "resources"));
  return broker;
}

std::chrono::system_clock::time_point Broker::now() const {
  return options_.now();
}

std::size_t Broker::session_count() {
  std::lock_guard lock(mutex_);
  expire_sessions();
  return sessions_.size();
}

void Broker::expire_sessions() {
  const auto current = now();
  std::erase_if(sessions_, [&](const auto& item) { return item.second.expires <= current; });
}

std::optional<std::string> Broker::session_id(const BrokerRequest& request) {
  for (const auto& [key, value] : request.headers) {
    if (!iequals(key, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto end = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      const auto equals = pair.find('=');
      if (equals == std::string_view::npos || trim(pair.substr(0, equals)) != kSessionCookie) {
        continue;
      }
      return std::string(trim(pair.substr(equals + 1)));
    }
  }
  return std::nullopt;
}

bool Broker::admin_authorized(const BrokerRequest& request) const {
  const auto header = find_header(request, "Authorization");
  if (!header) return false;
  const std::string_view value = trim(*header);
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || !iequals(value.substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  const std::string_view token = trim(value.substr(kBearer.size()));
  return token.size() == options_.admin_token.size() &&
         CRYPTO_memcmp(token.data(), options_.admin_token.data(), token.size()) == 0;
}

BrokerResponse Broker::handle(const BrokerRequest& request) {
  if (!request.path.starts_with(kApiPrefix)) return {404, "", "", {}};
  const std::string_view rest = std::string_view(request.path).substr(kApiPrefix.size());
  const auto slash = rest.find('/');
  const std::string_view plugin = rest.substr(0, slash);
  const std::string_view sub =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

  if (plugin == "auth" || plugin == "attest") {
    if (request.method != "POST" || slash != std::string_view::npos) {
      return error_response(404, kInvalidRequestPath,
                            fmt::format("Invalid request path: {} {}", request.method,
                                        escape_nonprintable(request.path)));
    }
    return plugin == "auth" ? auth(request) : attest(request);
  }
  if (plugin == "resource" && request.method == "GET") return get_resource(request, sub);
  if (plugin == "provisioner") {
    if (request.method == "GET") return get_provisioned(request, sub);
    // The operator's side (admin auth): POST provision, DELETE provision/<uuid>.
    if (request.method == "POST" && sub == "provision") return provision(request);
    static constexpr std::string_view kDeprovision = "provision/";
    if (request.method == "DELETE" && sub.starts_with(kDeprovision)) {
      return deprovision(request, sub.substr(kDeprovision.size()));
    }
    return error_response(404, kInvalidRequestPath,
                          fmt::format("Invalid request path: {} provisioner/{}", request.method,
                                      escape_nonprintable(sub)));
  }
  if (plugin == "resource" || plugin == "resource-policy") return admin(request, plugin, sub);
  return error_response(404, kPluginNotFound,
                        fmt::format("Plugin {} not found", escape_nonprintable(plugin)));
}

BrokerResponse Broker::auth(const BrokerRequest& request) {
  auto parsed = kbs_client::parse_auth_request(request.body);
  if (!parsed.ok()) {
    return error_response(
        401, kAttestationError,
        "Attestation error: RCAR handshake Auth failed: " + parsed.status().message());
  }
  if (parsed->version != kbs_client::kTrusteeProtocolVersion) {
    return error_response(
        401, kAttestationError,
        fmt::format("Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version "
                    "Mismatch: expect ={} while the request is {}",
                    kbs_client::kTrusteeProtocolVersion, parsed->version));
  }
  const std::optional<measure::TeeKind> tee = measure::parse_attesting_tee(parsed->tee);
  if (!tee) {
    return error_response(401, kAttestationError,
                          fmt::format("Attestation error: RCAR handshake Auth failed: TEE {} is "
                                      "not supported by devkbs (tdx, snp, sample)",
                                      parsed->tee));
  }
  if (*tee == measure::TeeKind::kSample && !options_.allow_sample) {
    return error_response(401, kAttestationError,
                          "Attestation error: RCAR handshake Auth failed: the sample TEE is "
                          "disabled (start devkbs with --allow-sample)");
  }
  auto nonce = random_bytes(32);
  auto id = random_bytes(16);
  if (!nonce.ok() || !id.ok()) {
    return error_response(401, kAttestationError, "Attestation error: no randomness");
  }
  Session session;
  session.nonce = base64_encode(*nonce);
  session.tee = *tee;
  session.extra_params = "";
  session.expires = now() + options_.session_timeout;
  const std::string session_id = hex_encode(*id);
  const kbs_client::Challenge challenge{session.nonce, session.extra_params};
  const std::string cookie =
      fmt::format("{}={}; Expires={}", kSessionCookie, session_id, http_date(session.expires));
  {
    std::lock_guard lock(mutex_);
    expire_sessions();
    sessions_[session_id] = std::move(session);
  }
  return {200, "application/json", kbs_client::make_challenge(challenge), {{"Set-Cookie", cookie}}};
}

BrokerResponse Broker::attest(const BrokerRequest& request) {
  const auto id = session_id(request);
  if (!id) {
    return error_response(401, kAttestationError,
                          "Attestation error: RCAR handshake Attest failed: cookie "
                          "kbs-session-id not found");
  }
  Session snapshot;
  {
    std::lock_guard lock(mutex_);
    const auto found = sessions_.find(*id);
    if (found == sessions_.end()) {
      return error_response(401, kAttestationError,
                            "Attestation error: RCAR handshake Attest failed: session not found");
    }
    if (found->second.expires <= now()) {
      sessions_.erase(found);
      return error_response(401, kAttestationError,
                            "Attestation error: RCAR handshake Attest failed: session expired");
    }
    if (found->second.nonce_used) {
      return error_response(401, kAttestationError,
                            "Attestation error: RCAR handshake Attest failed: the nonce of this "
                            "session was already used (start a new session with /auth)");
    }
    // Single use whatever the outcome: a refused attempt cannot be retried with the same nonce.
    found->second.nonce_used = true;
    snapshot.nonce = found->second.nonce;
    snapshot.tee = found->second.tee;
    snapshot.extra_params = found->second.extra_params;
    snapshot.expires = found->second.expires;
  }

  const auto fail = [](std::string_view detail) {
    return error_response(
        401, kAttestationError,
        fmt::format("Attestation error: RCAR handshake Attest failed: {}", detail));
  };
  auto parsed = kbs_client::parse_attestation_request(request.body);
  if (!parsed.ok()) return fail(parsed.status().message());
  // Trustee's built-in attestation service accepts only the "toml" format
  // (confidential-containers/trustee kbs/src/attestation/coco/builtin.rs @ 78962cd416dc).
  std::optional<kbs_client::InitData> init_data;
  if (!parsed->init_data.is_null()) {
    const auto& object = parsed->init_data;
    const auto format = object.is_object() ? object.find("format") : object.end();
    const auto body = object.is_object() ? object.find("body") : object.end();
    if (!object.is_object() || format == object.end() || !format->is_string() ||
        body == object.end() || !body->is_string()) {
      return fail("init-data must be an object with string members \"format\" and \"body\"");
    }
    if (format->get<std::string>() != "toml") {
      return fail(fmt::format("Unsupported initdata format: {}",
                              escape_nonprintable(format->get<std::string>())));
    }
    auto document = kbs_client::parse_init_data(body->get<std::string>());
    if (!document.ok()) return fail(document.status().message());
    init_data = std::move(*document);
  }
  if (parsed->nonce != snapshot.nonce) {
    return fail("the nonce in the handshake session is different from the one in runtime-data");
  }
  auto algorithm = kbs_client::hash_algorithm_from_extra_params(snapshot.extra_params);
  if (!algorithm.ok()) return fail(algorithm.status().message());
  auto digest = kbs_client::runtime_data_digest(parsed->tee_pubkey, parsed->nonce,
                                                parsed->additional_evidence, *algorithm);
  if (!digest.ok()) return fail("runtime data: " + digest.status().message());
  // The tee-pubkey must be usable now, not only when the first resource is requested.
  const std::uint8_t probe = 0;
  if (auto jwe = kbs_client::encrypt_jwe(std::span(&probe, 1), parsed->tee_pubkey); !jwe.ok()) {
    return fail("tee-pubkey: " + jwe.status().message());
  }
  AttestedClaims claims;
  claims.tee = snapshot.tee;
  if (const Status verified =
          verify_evidence(snapshot.tee, parsed->primary_evidence, *digest,
                          {options_.allow_sample, tdx_root_.get(), snp_ask_.get(), snp_ark_.get(),
                           options_.tdx_collateral ? &*options_.tdx_collateral : nullptr,
                           &options_.tdx_tcb_policy, snp_unpinned_test_ark_},
                          now(), claims);
      !verified.ok()) {
    return fail(verified.message());
  }
  if (init_data) {
    // The register the launch bound the init-data to: MRCONFIGID (TDX), HOST_DATA (SNP).
    const char* const register_claim = claims.tee == measure::TeeKind::kTdx   ? "mr_config_id"
                                       : claims.tee == measure::TeeKind::kSnp ? "host_data"
                                                                              : nullptr;
    const auto bound = register_claim ? claims.values.find(register_claim) : claims.values.end();
    if (bound == claims.values.end()) {
      return fail(fmt::format("init-data cannot be bound to {} evidence",
                              measure::tee_kind_name(claims.tee)));
    }
    const Status binding = kbs_client::check_init_data_binding(
        *init_data, bound->second,
        claims.tee == measure::TeeKind::kTdx ? "MRCONFIGID" : "HOST_DATA");
    if (!binding.ok()) return fail(binding.message());
    claims.init_data = init_data->data;
  }

  snapshot.attested = true;
  snapshot.tee_pubkey = parsed->tee_pubkey;
  snapshot.claims = claims;
  auto token = make_token(snapshot);
  if (!token.ok()) return fail(token.status().message());
  {
    std::lock_guard lock(mutex_);
    const auto found = sessions_.find(*id);
    if (found == sessions_.end()) return fail("session expired during attestation");
    found->second.attested = true;
    found->second.tee_pubkey = std::move(snapshot.tee_pubkey);
    found->second.claims = std::move(claims);
    found->second.token = *token;
  }
  BrokerResponse response = json_response({{"token", *token}});
  response.headers.emplace_back("Set-Cookie", fmt::format("{}={}; Expires={}", kSessionCookie, *id,
                                                          http_date(snapshot.expires)));
  return response;
}

Result<std::string> Broker::make_token(const Session& session) {
  const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [name, bytes] : session.claims.values) values[name] = hex_encode(bytes);
  const nlohmann::json claims = {
      {"iss", "devkbs"},
      {"iat", unix_seconds(now())},
      {"exp", unix_seconds(session.expires)},
      {"tee", measure::tee_kind_name(session.tee)},
      {"debug", session.claims.debug},
      {"reference_values", std::move(values)},
      {"init_data_claims", session.claims.init_data ? nlohmann::json(*session.claims.init_data)
                                                    : nlohmann::json(nullptr)},
      {"tee-pubkey", session.tee_pubkey}};
  const std::string signing_input = base64url_encode(as_bytes(header.dump())) + "." +
                                    base64url_encode(as_bytes(claims.dump(
                                        -1, ' ', false, nlohmann::json::error_handler_t::replace)));
  CCFDE_ASSIGN_OR_RETURN(const auto mac, hmac_sha256(token_key_.span(), as_bytes(signing_input)));
  return signing_input + "." + base64url_encode(mac);
}

std::optional<BrokerResponse> Broker::authorize(const BrokerRequest& request,
                                                const std::string& policy_path,
                                                nlohmann::json& tee_pubkey,
                                                AttestedClaims* claims) {
  const auto id = session_id(request);
  if (!id) {
    return error_response(401, kTokenNotFound,
                          "Attestation Token not found: no kbs-session-id cookie (devkbs accepts "
                          "no bearer tokens)");
  }
  std::lock_guard lock(mutex_);
  const auto found = sessions_.find(*id);
  if (found == sessions_.end()) {
    return error_response(401, kTokenNotFound, "Attestation Token not found: session not found");
  }
  if (found->second.expires <= now()) {
    sessions_.erase(found);
    return error_response(401, kTokenNotFound, "Attestation Token not found: session expired");
  }
  if (!found->second.attested) {
    return error_response(401, kTokenNotFound,
                          "Attestation Token not found: the session is not attested");
  }
  if (const Status allowed =
          evaluate_resource_policy(policy_, policy_path, found->second.claims, &snp_launches_, *id);
      !allowed.ok()) {
    return error_response(401, kPolicyDeny, allowed.message());
  }
  tee_pubkey = found->second.tee_pubkey;
  if (claims != nullptr) *claims = found->second.claims;
  return std::nullopt;
}

BrokerResponse Broker::get_resource(const BrokerRequest& request, std::string_view resource_path) {
  auto path = kbs_client::parse_resource_path(resource_path);
  if (!path.ok()) {
    return error_response(401, kPluginInternalError,
                          "Plugin internal error: " + path.status().message());
  }
  const std::string name = path->to_string();
  nlohmann::json tee_pubkey;
  if (auto refused = authorize(request, name, tee_pubkey, nullptr)) return std::move(*refused);
  return sealed_response(load_resource(name), tee_pubkey);
}

BrokerResponse Broker::get_provisioned(const BrokerRequest& request,
                                       std::string_view resource_path) {
  auto path = kbs_client::parse_resource_path(kbs_client::KbsPlugin::kProvisioner, resource_path);
  if (!path.ok()) {
    return error_response(401, kPluginInternalError,
                          "Plugin internal error: provisioner " + path.status().message());
  }
  // Trustee's provisioner stores keys only at default/<uuid>/root (handle_provision).
  if (path->repository != "default" || path->tag != "root" ||
      !provisioner::is_canonical_uuid(path->type)) {
    return error_response(401, kPluginInternalError,
                          fmt::format("Plugin internal error: provisioner resource {} not found "
                                      "(provisioner paths are default/<uuid>/root, the UUID in "
                                      "lowercase 8-4-4-4-12 form)",
                                      path->to_string()));
  }
  // The resource policy applies as to resources, under the plugin-qualified name (so an entry for
  // a resource path never covers a provisioner key by accident; "*" covers both).
  const std::string policy_path = path->url_path();
  nlohmann::json tee_pubkey;
  AttestedClaims claims;
  if (auto refused = authorize(request, policy_path, tee_pubkey, &claims)) {
    return std::move(*refused);
  }
  // Trustee's handle_get_resource: init_data_claims["trustee.kbs.resource"] must equal
  // "kbs+provisioner:///<path>" exactly.
  const std::string expected = path->uri();
  if (!claims.init_data) {
    return error_response(401, kPolicyDeny,
                          fmt::format("Access denied by policy: provisioner resource {} needs "
                                      "init-data with trustee.kbs.resource = \"{}\", and the guest "
                                      "sent no init-data",
                                      path->to_string(), expected));
  }
  const auto bound = claims.init_data->find(provisioner::kBindingClaim);
  if (bound == claims.init_data->end()) {
    return error_response(401, kPolicyDeny,
                          fmt::format("Access denied by policy: provisioner resource {} needs "
                                      "init-data claim trustee.kbs.resource = \"{}\", and the "
                                      "guest's init-data has no such claim",
                                      path->to_string(), expected));
  }
  if (bound->second != expected) {
    return error_response(
        401, kPolicyDeny,
        fmt::format("Access denied by policy: init-data claim trustee.kbs.resource is \"{}\", not "
                    "\"{}\"",
                    escape_nonprintable(bound->second), expected));
  }
  auto released = release_provisioned(path->to_string(), claims);
  if (!released.ok() && released.status().code() == ErrorCode::kPolicyDenied) {
    return error_response(401, kPolicyDeny, released.status().message());
  }
  return sealed_response(released, tee_pubkey);
}

BrokerResponse Broker::provision(const BrokerRequest& request) {
  if (auto refused = admin_refusal(request)) return std::move(*refused);
  // Trustee's ProvisionRequest: {"vm_name": ..., "namespace": ... (default "default")}.
  const auto body = nlohmann::json::parse(request.body, nullptr, false);
  std::string vm_name;
  std::string vm_namespace(provisioner::kDefaultNamespace);
  bool valid = body.is_object();
  if (valid) {
    const auto name = body.find("vm_name");
    valid = name != body.end() && name->is_string() && !name->get_ref<const std::string&>().empty();
    if (valid) vm_name = name->get<std::string>();
    const auto given_namespace = body.find("namespace");
    if (valid && given_namespace != body.end()) {
      valid = given_namespace->is_string();
      if (valid) vm_namespace = given_namespace->get<std::string>();
    }
  }
  if (!valid) {
    return error_response(401, kPluginInternalError,
                          "Plugin internal error: invalid JSON body: expected {\"vm_name\": "
                          "<non-empty string>, \"namespace\": <string, optional>}");
  }
  auto uuid = provisioner::vm_uuid(vm_namespace, vm_name);
  if (!uuid.ok()) {
    return error_response(401, kPluginInternalError,
                          "Plugin internal error: " + uuid.status().message());
  }
  const std::string path = provisioner::resource_path(*uuid);
  // A VM provisioned before keeps its key (handle_provision answers with the same values).
  if (const Status stored = store_provisioned_if_absent(path); !stored.ok()) {
    return error_response(401, kPluginInternalError, "Plugin internal error: " + stored.message());
  }
  return json_response({{"uuid", *uuid}, {"resource_path", path}});
}

BrokerResponse Broker::deprovision(const BrokerRequest& request, std::string_view uuid) {
  if (auto refused = admin_refusal(request)) return std::move(*refused);
  if (!provisioner::is_canonical_uuid(uuid)) {
    return error_response(401, kPluginInternalError,
                          fmt::format("Plugin internal error: \"{}\" is not a UUID in lowercase "
                                      "8-4-4-4-12 form",
                                      escape_nonprintable(uuid)));
  }
  // Trustee ignores whether there was a key to delete (handle_deprovision). The key goes first:
  // should the first-boot record then stay behind, a new key's provisioning removes it.
  const std::string path = provisioner::resource_path(uuid);
  std::lock_guard lock(mutex_);
  for (const auto& file : {provisioned_file(path), first_boot_file(path)}) {
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      return error_response(401, kPluginInternalError,
                            fmt::format("Plugin internal error: cannot delete {}: {}",
                                        state_name(file), std::generic_category().message(errno)));
    }
  }
  return json_response({{"status", "deleted"}});
}

std::optional<BrokerResponse> Broker::admin_refusal(const BrokerRequest& request) const {
  if (admin_authorized(request)) return std::nullopt;
  return error_response(401, kAdminAuthAccess,
                        find_header(request, "Authorization")
                            ? "Admin auth error: the admin bearer token does not match"
                            : "Admin auth error: Authorization: Bearer <admin token> required");
}

BrokerResponse Broker::admin(const BrokerRequest& request, std::string_view plugin,
                             std::string_view rest) {
  if (auto refused = admin_refusal(request)) return std::move(*refused);
  if (plugin == "resource-policy") {
    if (!rest.empty()) {
      return error_response(404, kInvalidRequestPath, "Invalid request path: resource-policy/...");
    }
    if (request.method == "GET") {
      std::lock_guard lock(mutex_);
      return json_response(to_json(policy_));
    }
    if (request.method != "POST") {
      return error_response(
          404, kInvalidRequestPath,
          fmt::format("Invalid request path: {} resource-policy", request.method));
    }
    const auto json = nlohmann::json::parse(request.body, nullptr, false);
    if (json.is_discarded()) {
      return error_response(401, kParsePolicyError, "Parse policy error: the body is not JSON");
    }
    auto policy = parse_resource_policy(json);
    if (!policy.ok()) {
      return error_response(401, kParsePolicyError,
                            "Parse policy error: " + policy.status().message());
    }
    std::lock_guard lock(mutex_);
    if (const Status saved = save_policy(*policy); !saved.ok()) {
      return error_response(401, kParsePolicyError, "Parse policy error: " + saved.message());
    }
    policy_ = std::move(*policy);
    return {200, "", "", {}};
  }

  auto path = kbs_client::parse_resource_path(rest);
  if (!path.ok()) {
    return error_response(401, kPluginInternalError,
                          "Plugin internal error: " + path.status().message());
  }
  const std::string name = path->to_string();
  Status result;
  if (request.method == "POST") {
    result = store_resource(name, as_bytes(request.body));
  } else if (request.method == "DELETE") {
    result = delete_resource(name);
  } else {
    return error_response(404, kInvalidRequestPath,
                          fmt::format("Invalid request path: {} resource", request.method));
  }
  if (!result.ok()) {
    return error_response(401, kPluginInternalError, "Plugin internal error: " + result.message());
  }
  return {200, "", "", {}};
}

std::filesystem::path Broker::resource_file(std::string_view resource_path) const {
  // parse_resource_path admits no empty segment and none starting with '.', so the three segments
  // stay below resources/.
  return options_.state_dir / "resources" / std::filesystem::path(resource_path);
}

Status Broker::store_resource(std::string_view resource_path, std::span<const std::uint8_t> bytes) {
  const auto file = resource_file(resource_path);
  std::lock_guard lock(mutex_);
  CCFDE_RETURN_IF_ERROR(make_private_directories(file.parent_path()));
  return write_private_file(file, bytes);
}

Status Broker::delete_resource(std::string_view resource_path) {
  const auto file = resource_file(resource_path);
  std::lock_guard lock(mutex_);
  if (::unlink(file.c_str()) != 0) {
    if (errno == ENOENT) {
      return make_error(ErrorCode::kNotFound, "resource {} not found", resource_path);
    }
    return make_errno_error(ErrorCode::kIoError, errno, "cannot delete resource {}", resource_path);
  }
  return Status::ok_status();
}

Result<SecretBytes> Broker::load_resource(std::string_view resource_path) {
  const auto file = resource_file(resource_path);
  std::lock_guard lock(mutex_);
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return make_error(ErrorCode::kNotFound, "resource {} not found", resource_path);
    }
    return make_errno_error(ErrorCode::kIoError, errno, "cannot open resource {}", resource_path);
  }
  std::vector<std::uint8_t> bytes;
  const int error = read_all(fd.get(), bytes, kMaxResourceSize);
  SecretBytes secret = SecretBytes::copy_of(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "cannot read resource {}", resource_path);
  }
  if (secret.size() > kMaxResourceSize) {
    return make_error(ErrorCode::kIoError, "resource {} is larger than {} bytes", resource_path,
                      kMaxResourceSize);
  }
  return secret;
}

std::filesystem::path Broker::provisioned_file(std::string_view resource_path) const {
  // Provisioner paths are default/<uuid>/root (checked by every caller): the file stays below
  // provisioner/.
  return options_.state_dir / "provisioner" / std::filesystem::path(resource_path);
}

Status Broker::store_provisioned_if_absent(std::string_view resource_path) {
  const auto file = provisioned_file(resource_path);
  std::lock_guard lock(mutex_);
  struct stat existing {};
  if (::lstat(file.c_str(), &existing) == 0) return Status::ok_status();
  if (errno != ENOENT) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot look up provisioner resource {}",
                            resource_path);
  }
  CCFDE_ASSIGN_OR_RETURN(SecretBytes document, provisioner::make_confdata_document());
  CCFDE_RETURN_IF_ERROR(make_private_directories(file.parent_path()));
  // A first-boot record belongs to the key it was kept for: a new key starts without one.
  const auto record = first_boot_file(resource_path);
  if (::unlink(record.c_str()) != 0 && errno != ENOENT) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot delete {}", state_name(record));
  }
  return write_private_file(file, document.span());
}

std::filesystem::path Broker::first_boot_file(std::string_view resource_path) const {
  return provisioned_file(resource_path).parent_path() / kFirstBootRecordFile;
}

std::string Broker::state_name(const std::filesystem::path& file) const {
  return file.lexically_relative(options_.state_dir).string();
}

Result<std::optional<FirstBootRecord>> Broker::load_first_boot_record(
    std::string_view resource_path) const {
  const auto file = first_boot_file(resource_path);
  const auto damaged = [&](std::string_view problem) {
    return make_error(ErrorCode::kMalformed,
                      "the first-boot record of provisioner resource {} ({} in the state "
                      "directory) is damaged: {}; nothing is released until an operator repairs "
                      "or removes it",
                      resource_path, state_name(file), problem);
  };
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<FirstBootRecord>();
    return damaged(fmt::format("cannot open it: {}", std::generic_category().message(errno)));
  }
  constexpr std::size_t kMaxRecordSize = 4096;
  std::vector<std::uint8_t> bytes;
  if (const int error = read_all(fd.get(), bytes, kMaxRecordSize); error != 0) {
    return damaged(fmt::format("cannot read it: {}", std::generic_category().message(error)));
  }
  if (bytes.size() > kMaxRecordSize) {
    return damaged(fmt::format("larger than {} bytes", kMaxRecordSize));
  }
  auto record = parse_first_boot_record(as_chars(bytes));
  if (!record.ok()) return damaged(record.status().message());
  return std::optional<FirstBootRecord>(std::move(*record));
}

Result<SecretBytes> Broker::release_provisioned(std::string_view resource_path,
                                                const AttestedClaims& claims) {
  std::lock_guard lock(mutex_);
  // The key first: a VM that was never provisioned gets no record.
  CCFDE_ASSIGN_OR_RETURN(SecretBytes document, load_provisioned(resource_path));
  CCFDE_ASSIGN_OR_RETURN(const auto current, load_first_boot_record(resource_path));
  CCFDE_ASSIGN_OR_RETURN(const FirstBootRecord next,
                         admit_first_boot(current, claims, resource_path));
  if (next != current) {
    // Written before the key leaves: a key released is a first boot (or a normal unlock) on record.
    CCFDE_RETURN_IF_ERROR(
        write_private_file(first_boot_file(resource_path), as_bytes(first_boot_record_text(next))));
  }
  return document;
}

Result<SecretBytes> Broker::load_provisioned(std::string_view resource_path) {
  const auto file = provisioned_file(resource_path);
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return make_error(ErrorCode::kNotFound,
                        "provisioner resource not found: {} (no POST "
                        "/kbs/v0/provisioner/provision made it)",
                        resource_path);
    }
    return make_errno_error(ErrorCode::kIoError, errno, "cannot open provisioner resource {}",
                            resource_path);
  }
  std::vector<std::uint8_t> bytes;
  const int error = read_all(fd.get(), bytes, kMaxResourceSize);
  SecretBytes document = SecretBytes::copy_of(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "cannot read provisioner resource {}",
                            resource_path);
  }
  if (document.size() > kMaxResourceSize) {
    return make_error(ErrorCode::kIoError, "provisioner resource {} is larger than {} bytes",
                      resource_path, kMaxResourceSize);
  }
  return document;
}

Status Broker::save_policy(const ResourcePolicy& policy) const {
  return write_private_file(options_.state_dir / "policy.json", as_bytes(to_json(policy).dump(2)));
}

}  // namespace ccfde::devkbs
