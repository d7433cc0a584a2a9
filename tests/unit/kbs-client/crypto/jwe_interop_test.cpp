// SPDX-License-Identifier: Apache-2.0
// Interoperability with an independent JOSE implementation, Debian's python3-jwcrypto, in both
// directions. Keys, JWEs and plaintexts travel through files in a TempDir (jwcrypto_interop.py);
// the command line carries only paths and algorithm names.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/kbs-client/jwe.h"
#include "ccfde/testing/jwcrypto.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using json = nlohmann::json;

void write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int jwcrypto(const std::vector<std::string>& args) {
  return testing::run_jwcrypto(args);
}

struct Case {
  TeeKeyType type;
  const char* alg;
  const char* kind;  // jwcrypto_interop.py genkey argument
};
const Case kCases[] = {
    {TeeKeyType::kEcP256, "ECDH-ES+A256KW", "EC-P-256"},
    {TeeKeyType::kEcP521, "ECDH-ES+A256KW", "EC-P-521"},
    {TeeKeyType::kRsaOaep256, "RSA-OAEP-256", "RSA-3072"},
};

// jwcrypto encrypts to our public JWK; decrypt_jwe opens it. Both jwcrypto's own flattened JSON
// (epk in the unprotected "header") and its compact form rewritten as flattened members (epk in
// the protected header, as Trustee sends it).
TEST(JwcryptoInterop, JwcryptoToDecryptJwe) {
  CCFDE_SKIP_WITHOUT_JWCRYPTO();
  testing::TempDir dir;
  const std::string secret = "disk key \x01\x02\xff from jwcrypto";
  write_text(dir.path() / "plaintext", secret);
  for (const Case& c : kCases) {
    for (const char* form : {"json", "compact-as-json"}) {
      SCOPED_TRACE(std::string(c.alg) + " " + c.kind + " " + form);
      auto key = TeeKey::generate(c.type);
      ASSERT_TRUE(key.ok());
      write_text(dir.path() / "public.jwk", key->public_jwk().dump());
      ASSERT_EQ(jwcrypto({"encrypt", c.alg, form, (dir.path() / "public.jwk").string(),
                          (dir.path() / "plaintext").string(), (dir.path() / "jwe.json").string()}),
                0);
      const json jwe = json::parse(read_text(dir.path() / "jwe.json"));
      auto plaintext = decrypt_jwe(jwe, *key);
      ASSERT_TRUE(plaintext.ok()) << plaintext.status().to_string() << "\n" << jwe.dump();
      EXPECT_EQ(as_chars(plaintext->span()), secret);
    }
  }
}

// encrypt_jwe encrypts to a jwcrypto key; jwcrypto opens it. The same private key, imported with
// TeeKey::from_private_jwk, also opens it (RSA import is checked here).
TEST(JwcryptoInterop, EncryptJweToJwcrypto) {
  CCFDE_SKIP_WITHOUT_JWCRYPTO();
  testing::TempDir dir;
  const std::string secret = "a 32-byte disk key, more or less";
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.kind);
    const auto private_path = (dir.path() / "private.jwk").string();
    const auto public_path = (dir.path() / "public.jwk").string();
    ASSERT_EQ(jwcrypto({"genkey", c.kind, private_path, public_path}), 0);
    json recipient = json::parse(read_text(public_path));
    recipient["alg"] = c.alg;  // as the client sends it
    auto jwe = encrypt_jwe(as_bytes(secret), recipient);
    ASSERT_TRUE(jwe.ok()) << jwe.status().to_string();
    write_text(dir.path() / "jwe.json", jwe->dump());
    std::filesystem::remove(dir.path() / "plaintext");
    ASSERT_EQ(jwcrypto({"decrypt", private_path, (dir.path() / "jwe.json").string(),
                        (dir.path() / "plaintext").string()}),
              0);
    EXPECT_EQ(read_text(dir.path() / "plaintext"), secret);

    auto imported = TeeKey::from_private_jwk(json::parse(read_text(private_path)));
    ASSERT_TRUE(imported.ok()) << imported.status().to_string();
    EXPECT_EQ(imported->type(), c.type);
    auto plaintext = decrypt_jwe(*jwe, *imported);
    ASSERT_TRUE(plaintext.ok()) << plaintext.status().to_string();
    EXPECT_EQ(as_chars(plaintext->span()), secret);
  }
}

TEST(JwcryptoInterop, Rsa2048PrivateJwkIsRefused) {
  CCFDE_SKIP_WITHOUT_JWCRYPTO();
  testing::TempDir dir;
  const auto private_path = (dir.path() / "private.jwk").string();
  const auto public_path = (dir.path() / "public.jwk").string();
  ASSERT_EQ(jwcrypto({"genkey", "RSA-2048", private_path, public_path}), 0);
  auto key = TeeKey::from_private_jwk(json::parse(read_text(private_path)));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_NE(key.status().message().find("2048 bits"), std::string::npos);
}

}  // namespace
}  // namespace ccfde::kbs_client
