// SPDX-License-Identifier: Apache-2.0
#include "ita_test_util.h"

#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "ccfde/common/openssl_keys.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client::testing {

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "ita test helper: %s failed: %s\n", what, drain_openssl_errors().c_str());
  std::abort();
}

using CipherCtxPtr = CHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;

}  // namespace

std::optional<nlohmann::json> load_ita_vector() {
  auto bytes = ccfde::testing::load_testdata("constructed/kbs-constructed-vectors.json");
  if (!bytes) return std::nullopt;
  return nlohmann::json::parse(bytes->begin(), bytes->end()).at("ita_kbs_transfer");
}

EvpPkeyPtr public_key_from_user_data(std::span<const std::uint8_t> user_data) {
  if (user_data.size() <= 4) die("user_data length");
  const unsigned long e = std::uint32_t{user_data[0]} | (std::uint32_t{user_data[1]} << 8) |
                          (std::uint32_t{user_data[2]} << 16) | (std::uint32_t{user_data[3]} << 24);
  BignumPtr n(BN_bin2bn(user_data.data() + 4, static_cast<int>(user_data.size() - 4), nullptr));
  BignumPtr e_bn(BN_new());
  if (!n || !e_bn || BN_set_word(e_bn.get(), e) != 1) die("BN");
  auto key = rsa_public_key(n.get(), e_bn.get());
  if (!key.ok()) die("rsa_public_key");
  return std::move(key).value();
}

Bytes rsa_oaep_sha256_encrypt(EVP_PKEY* key, std::span<const std::uint8_t> plaintext) {
  EvpPkeyCtxPtr context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!context || EVP_PKEY_encrypt_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), EVP_sha256()) != 1) {
    die("OAEP setup");
  }
  std::size_t length = 0;
  if (EVP_PKEY_encrypt(context.get(), nullptr, &length, plaintext.data(), plaintext.size()) != 1) {
    die("OAEP size");
  }
  Bytes out(length);
  if (EVP_PKEY_encrypt(context.get(), out.data(), &length, plaintext.data(), plaintext.size()) !=
      1) {
    die("OAEP encrypt");
  }
  out.resize(length);
  return out;
}

Bytes seal_wrapped_key(std::span<const std::uint8_t> swk, std::span<const std::uint8_t> iv,
                       std::span<const std::uint8_t> plaintext) {
  CipherCtxPtr context(EVP_CIPHER_CTX_new());
  if (!context ||
      EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(context.get(), nullptr, nullptr, swk.data(), iv.data()) != 1) {
    die("GCM setup");
  }
  Bytes ciphertext(plaintext.size() + 16);
  int length = 0;
  int final_length = 0;
  if (EVP_EncryptUpdate(context.get(), ciphertext.data(), &length, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(context.get(), ciphertext.data() + length, &final_length) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, 16,
                          ciphertext.data() + plaintext.size()) != 1) {
    die("GCM encrypt");
  }
  Bytes out;
  for (const std::uint32_t value : {static_cast<std::uint32_t>(iv.size()), std::uint32_t{16},
                                    static_cast<std::uint32_t>(ciphertext.size())}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  }
  out.insert(out.end(), iv.begin(), iv.end());
  out.insert(out.end(), ciphertext.begin(), ciphertext.end());
  return out;
}

Bytes random_bytes(std::size_t count) {
  Bytes out(count);
  if (RAND_bytes(out.data(), static_cast<int>(count)) != 1) die("RAND_bytes");
  return out;
}

Bytes from_hex(std::string_view hex) {
  auto bytes = hex_decode(hex);
  if (!bytes.ok()) die("hex literal");
  return *bytes;
}

}  // namespace ccfde::kbs_client::testing
