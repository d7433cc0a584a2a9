// SPDX-License-Identifier: Apache-2.0
// The JSON messages of Trustee's RCAR protocol 0.4.0 (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.4,
// kbs-types serde names): builders for what the client sends and parsers for what the broker
// answers. The server-side counterparts (parse_auth_request, parse_attestation_request,
// make_challenge, make_error_information) serve devkbs and tests.
//
// Parsers take untrusted text: they never throw or crash, and their errors name the member and
// what was expected vs found.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::kbs_client {

// The only KBS protocol version Trustee v0.14 and later accept (an exact semver match).
inline constexpr std::string_view kTrusteeProtocolVersion = "0.4.0";

// Prefix of ErrorInformation "type" URLs.
inline constexpr std::string_view kTrusteeErrorTypePrefix =
    "https://github.com/confidential-containers/kbs/errors/";

// The hash algorithms the client advertises in the Request's extra-params (as guest-components).
inline constexpr std::string_view kSupportedHashAlgorithms[] = {"sha256", "sha384", "sha512"};

// ---- Request (client -> POST /kbs/v0/auth) ----

// {"version":"0.4.0","tee":<tee>,"extra-params":{"supported-hash-algorithms":["sha256","sha384",
// "sha512"]}}, compact, members in that order. `tee` is a kbs-types Tee name ("tdx", "snp",
// "sample"); it is not validated here.
std::string make_auth_request(std::string_view tee);

// clang-tidy 14 sees an exception escaping the implicit noexcept move of a struct holding
// nlohmann::json, which cannot throw (a known false positive, llvm/llvm-project#54668).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct AuthRequest {
  std::string version;
  std::string tee;
  nlohmann::json extra_params;  // any JSON value; null when absent
};

// Parses a Request body (server side). Errors: kMalformedResponse when the body is not a JSON
// object or "version"/"tee" are missing or not strings.
Result<AuthRequest> parse_auth_request(std::string_view body);

// ---- Challenge (broker -> client) ----

// clang-tidy 14 sees an exception escaping the implicit noexcept move of a struct holding
// nlohmann::json, which cannot throw (a known false positive, llvm/llvm-project#54668).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Challenge {
  std::string nonce;            // as received (base64 text); hashed as a string, never decoded
  nlohmann::json extra_params;  // usually the string "", sometimes an object; null when absent
};

// Parses {"nonce": string, "extra-params": any}. "extra-params" may be "", an object, or absent.
// Errors: kMalformedResponse when the body is not a JSON object, "nonce" is missing, not a string
// or empty.
Result<Challenge> parse_challenge(std::string_view body);

// {"nonce":<nonce>,"extra-params":<extra_params>} (server side).
std::string make_challenge(const Challenge& challenge);

// ---- Attestation (client -> POST /kbs/v0/attest) ----

// The Attestation body: {"init-data":null,"runtime-data":{"nonce":..,"tee-pubkey":..},
// "tee-evidence":{"primary_evidence":..,"additional_evidence":""}} (top level kebab-case,
// snake_case inside tee-evidence; additional_evidence always present). `tee_pubkey` is the JWK
// exactly as hashed into the runtime data. A non-empty `init_data_toml` is sent as
// "init-data":{"format":"toml","body":<init_data_toml>}, the only format Trustee accepts. Errors:
// kInvalidArgument if a value cannot be serialised (invalid UTF-8 in a string).
Result<std::string> make_attestation_request(const nlohmann::json& tee_pubkey,
                                             std::string_view nonce,
                                             const nlohmann::json& primary_evidence,
                                             std::string_view init_data_toml = {});

// clang-tidy 14 sees an exception escaping the implicit noexcept move of a struct holding
// nlohmann::json, which cannot throw (a known false positive, llvm/llvm-project#54668).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct AttestationRequest {
  nlohmann::json init_data;  // null when absent
  std::string nonce;
  nlohmann::json tee_pubkey;  // object
  nlohmann::json primary_evidence;
  std::string additional_evidence;
};

// Parses an Attestation body (server side). Errors: kMalformedResponse naming the missing or
// ill-typed member (runtime-data.nonce string, runtime-data.tee-pubkey object,
// tee-evidence.primary_evidence present, tee-evidence.additional_evidence string).
Result<AttestationRequest> parse_attestation_request(std::string_view body);

// ---- Attestation response ----

// The "token" string of {"token": "<JWT>"}. The token is not verified here (the client
// authenticates resource requests with the session cookie and keeps the token for diagnostics).
// Errors: kMalformedResponse when the body is not a JSON object or "token" is missing, not a string
// or empty.
Result<std::string> parse_attestation_token(std::string_view body);

// ---- ErrorInformation (RFC 7807 style, every broker error) ----

struct ErrorInformation {
  std::string type;    // "https://github.com/confidential-containers/kbs/errors/PolicyDeny"
  std::string detail;  // human-readable, as received

  // The Trustee error variant: the part of `type` after its last '/' ("PolicyDeny"), or the whole
  // type when it has no '/'.
  std::string variant() const;
};

// Parses {"type": string, "detail": string}. Errors: kMalformedResponse when the body is not a
// JSON object or either member is missing or not a string.
Result<ErrorInformation> parse_error_information(std::string_view body);

// {"type":"<kTrusteeErrorTypePrefix><variant>","detail":<detail>} (server side).
std::string make_error_information(std::string_view variant, std::string_view detail);

}  // namespace ccfde::kbs_client
