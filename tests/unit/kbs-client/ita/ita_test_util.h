// SPDX-License-Identifier: Apache-2.0
// Test-side helpers for the ITA adapter tests: the broker's half of the key transfer (encrypting
// to the user_data key, sealing wrapped_key), written independently of the client code, and
// access to the constructed vector.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"

namespace ccfde::kbs_client::testing {

// The `ita_kbs_transfer` object of constructed/kbs-constructed-vectors.json, or nullopt when the
// file is absent.
std::optional<nlohmann::json> load_ita_vector();

// The RSA public key described by user_data = u32le(e) || n (big-endian). Aborts on failure.
EvpPkeyPtr public_key_from_user_data(std::span<const std::uint8_t> user_data);

// RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) of `plaintext` under `key`. Aborts on failure.
Bytes rsa_oaep_sha256_encrypt(EVP_PKEY* key, std::span<const std::uint8_t> plaintext);

// u32le(12) || u32le(16) || u32le(len + 16) || iv || AES-256-GCM(key, iv, plaintext) || tag.
Bytes seal_wrapped_key(std::span<const std::uint8_t> swk, std::span<const std::uint8_t> iv,
                       std::span<const std::uint8_t> plaintext);

// `count` random bytes.
Bytes random_bytes(std::size_t count);

// Bytes from a hex literal; aborts on bad hex.
Bytes from_hex(std::string_view hex);

}  // namespace ccfde::kbs_client::testing
