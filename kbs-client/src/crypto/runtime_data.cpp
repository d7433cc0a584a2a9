// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/runtime_data.h"

#include <cctype>
#include <string>

#include "ccfde/kbs-client/jcs.h"

namespace ccfde::kbs_client {

Result<Bytes> runtime_data_digest(const nlohmann::json& tee_pubkey, std::string_view nonce,
                                  std::string_view additional_evidence, DigestAlgorithm algorithm) {
  nlohmann::json runtime_data = nlohmann::json::object();
  runtime_data["additional-evidence"] = std::string(additional_evidence);
  runtime_data["nonce"] = std::string(nonce);
  runtime_data["tee-pubkey"] = tee_pubkey;
  CCFDE_ASSIGN_OR_RETURN(std::string canonical, canonical_json(runtime_data));
  return digest(algorithm, as_bytes(canonical));
}

Result<DigestAlgorithm> hash_algorithm_from_extra_params(const nlohmann::json& extra_params) {
  static constexpr std::string_view kMember = "selected-hash-algorithm";
  if (!extra_params.is_object()) return DigestAlgorithm::kSha384;
  const auto it = extra_params.find(kMember);
  if (it == extra_params.end()) return DigestAlgorithm::kSha384;
  if (!it->is_string()) {
    return make_error(ErrorCode::kMalformedResponse, "extra-params.{}: expected a string, found {}",
                      kMember, it->type_name());
  }
  std::string name = it->get<std::string>();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "sha256") return DigestAlgorithm::kSha256;
  if (name == "sha384") return DigestAlgorithm::kSha384;
  if (name == "sha512") return DigestAlgorithm::kSha512;
  return make_error(ErrorCode::kUnsupportedAlgorithm,
                    "extra-params.{} \"{}\" is not supported (expected sha256, sha384 or sha512)",
                    kMember, escape_nonprintable(it->get<std::string>()));
}

}  // namespace ccfde::kbs_client
