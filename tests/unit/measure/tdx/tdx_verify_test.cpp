// SPDX-License-Identifier: Apache-2.0
// Verification tests: the four production-signed quotes, the pre-production EVA quote, the
// validity windows of docs/reference/TEST-VECTORS.md §11, policy checks and tampered copies.
#include "ccfde/measure/tdx_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/testing/testdata.h"
#include "tdx_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;

using namespace tdx_test;

TimePoint at(const char* text) {
  auto time = parse_rfc3339(text);
  EXPECT_TRUE(time.ok()) << text;
  return time.ok() ? *time : TimePoint{};
}

const char* const kPinned = "2026-06-01T00:00:00Z";

TdxQuote parse_or_die(const std::vector<std::uint8_t>& bytes) {
  auto quote = parse_tdx_quote(bytes);
  EXPECT_TRUE(quote.ok()) << quote.status().to_string();
  return quote.ok() ? std::move(quote).value() : TdxQuote{};
}

// The PEM blocks of a chain, each ending with its END line and a newline.
std::vector<std::string> pem_blocks(const TdxQuote& quote) {
  const std::string_view end_line = "-----END CERTIFICATE-----\n";
  std::string_view text = as_chars(quote.pck_chain_pem);
  std::vector<std::string> blocks;
  for (std::size_t end = text.find(end_line); end != std::string_view::npos;
       end = text.find(end_line)) {
    blocks.emplace_back(text.substr(0, end + end_line.size()));
    text.remove_prefix(end + end_line.size());
  }
  return blocks;
}

// A v4 quote (32-byte QE auth data) with its PCK chain replaced by `pem`; the chain is outside
// every signature, so only the length fields need fixing.
std::vector<std::uint8_t> with_pem(const std::vector<std::uint8_t>& quote, const std::string& pem) {
  std::vector<std::uint8_t> out(quote.begin(), quote.begin() + kV4Pem);
  out.insert(out.end(), pem.begin(), pem.end());
  const auto pem_size = static_cast<std::uint32_t>(pem.size());
  const std::uint32_t cert_size = 384 + 64 + 2 + 32 + 2 + 4 + pem_size;
  put_u32(out, kV4PckSize, pem_size);
  put_u32(out, kV4CertDataSize, cert_size);
  put_u32(out, kV4SignatureDataLen, 64 + 64 + 2 + 4 + cert_size);
  return out;
}

TEST(IntelSgxRootCaTest, EmbeddedRootMatchesThePinnedDigest) {
  auto root = intel_sgx_root_ca();
  ASSERT_TRUE(root.ok()) << root.status().to_string();
  // DER SHA-256 from docs/reference/MEASUREMENT-FORMATS.md §2.5.
  EXPECT_EQ(hex(certificate_fingerprint(root->get())),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  EXPECT_EQ(certificate_common_name(root->get()), "Intel SGX Root CA");
  EXPECT_EQ(kIntelSgxRootCaDerSha256,
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
}

struct VerifyCase {
  const char* path;
  const char* fmspc;
  std::uint16_t pce_svn;
  const char* cpu_svn;
};

// docs/reference/TEST-VECTORS.md §2.1 (PCK FMSPC / PCESVN / CPUSVN).
const VerifyCase kProductionCases[] = {
    {kSprE4, "50806f000000", 11, "03030202020100020000000000000000"},
    {kV5, "90c06f000000", 13, "04040202040100050000000000000000"},
    {kCos113, "00806f050000", 11, "07070202030100030000000000000000"},
    {kT4, "50806f000000", 11, "05050d02030100030000000000000000"},
};

class TdxVerifyProductionTest : public ::testing::TestWithParam<VerifyCase> {};

TEST_P(TdxVerifyProductionTest, VerifiesToTheProductionRootAtThePinnedTime) {
  const VerifyCase& c = GetParam();
  CCFDE_LOAD_TESTDATA(bytes, c.path);
  const TdxQuote quote = parse_or_die(bytes);
  auto verified = verify_tdx_quote(quote, at(kPinned));
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(hex(verified->pck.fmspc), c.fmspc);
  EXPECT_EQ(verified->pck.pce_svn, c.pce_svn);
  EXPECT_EQ(hex(verified->pck.cpu_svn), c.cpu_svn);
  EXPECT_EQ(hex(verified->pck.cpu_svn_components), c.cpu_svn);
  EXPECT_EQ(verified->pck_issuer, "Intel SGX PCK Platform CA");
  EXPECT_EQ(hex(verified->root_fingerprint),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  EXPECT_EQ(format_rfc3339(verified->verified_at), kPinned);

  const auto json = to_json(*verified);
  EXPECT_EQ(json.at("pck").at("fmspc"), c.fmspc);
  EXPECT_EQ(json.at("verified_at"), kPinned);
}

TEST_P(TdxVerifyProductionTest, FailsOutsideEveryValidityWindow) {
  CCFDE_LOAD_TESTDATA(bytes, GetParam().path);
  const TdxQuote quote = parse_or_die(bytes);
  for (const char* time : {"2022-01-01T00:00:00Z", "2034-01-01T00:00:00Z"}) {
    auto verified = verify_tdx_quote(quote, at(time));
    ASSERT_FALSE(verified.ok()) << time;
    EXPECT_EQ(verified.status().code(), ErrorCode::kCertificateExpired)
        << time << ": " << verified.status().to_string();
  }
}

INSTANTIATE_TEST_SUITE_P(ProductionQuotes, TdxVerifyProductionTest,
                         ::testing::ValuesIn(kProductionCases),
                         [](const auto& test_info) { return vector_name(test_info.param.path); });

TEST(TdxVerifyTest, ValidityWindowsOfIndividualQuotes) {
  CCFDE_LOAD_TESTDATA(v5_bytes, kV5);
  CCFDE_LOAD_TESTDATA(spr_bytes, kSprE4);
  CCFDE_LOAD_TESTDATA(cos_bytes, kCos113);
  CCFDE_LOAD_TESTDATA(t4_bytes, kT4);
  const TdxQuote v5 = parse_or_die(v5_bytes);
  const TdxQuote spr = parse_or_die(spr_bytes);
  const TdxQuote cos = parse_or_die(cos_bytes);
  const TdxQuote t4 = parse_or_die(t4_bytes);

  // 2026-01-01: the v5 PCK is not yet valid (from 2026-01-27); the others verify.
  const TimePoint early_2026 = at("2026-01-01T00:00:00Z");
  EXPECT_EQ(verify_tdx_quote(v5, early_2026).status().code(), ErrorCode::kCertificateExpired);
  EXPECT_TRUE(verify_tdx_quote(spr, early_2026).ok());
  EXPECT_TRUE(verify_tdx_quote(cos, early_2026).ok());
  EXPECT_TRUE(verify_tdx_quote(t4, early_2026).ok());

  // 2030-01-01: the SPR_E4 PCK expired on 2029-09-20; v5, COS113 and T4 verify.
  const TimePoint year_2030 = at("2030-01-01T00:00:00Z");
  EXPECT_EQ(verify_tdx_quote(spr, year_2030).status().code(), ErrorCode::kCertificateExpired);
  EXPECT_TRUE(verify_tdx_quote(v5, year_2030).ok());
  EXPECT_TRUE(verify_tdx_quote(cos, year_2030).ok());
  EXPECT_TRUE(verify_tdx_quote(t4, year_2030).ok());
}

TEST(TdxVerifyTest, PreProductionQuoteIsRejectedByTheProductionRoot) {
  CCFDE_LOAD_TESTDATA(bytes, kEva);
  const TdxQuote quote = parse_or_die(bytes);
  auto verified = verify_tdx_quote(quote, at(kPinned));
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.status().code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(verified.status().message(),
              HasSubstr("e3f49e858865d54dde1d2f778817a355c470133165ddce1e488bec66f8f9ecf3"));
  EXPECT_THAT(verified.status().message(),
              HasSubstr("44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"));
}

TEST(TdxVerifyTest, PreProductionQuoteVerifiesToItsOwnRoot) {
  CCFDE_LOAD_TESTDATA(bytes, kEva);
  const TdxQuote quote = parse_or_die(bytes);
  auto chain = tdx_pck_chain(quote);
  ASSERT_TRUE(chain.ok()) << chain.status().to_string();
  EXPECT_EQ(hex(certificate_fingerprint(chain->root.get())),
            "e3f49e858865d54dde1d2f778817a355c470133165ddce1e488bec66f8f9ecf3");
  auto verified = verify_tdx_quote(quote, chain->root.get(), at(kPinned));
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(hex(verified->pck.fmspc), "10806f070000");
  EXPECT_EQ(verified->pck.pce_svn, 0);
  EXPECT_EQ(hex(verified->pck.cpu_svn), "01010000000000000000000000000000");

  for (const char* time : {"2022-01-01T00:00:00Z", "2034-01-01T00:00:00Z"}) {
    EXPECT_EQ(verify_tdx_quote(quote, chain->root.get(), at(time)).status().code(),
              ErrorCode::kCertificateExpired)
        << time;
  }
}

TEST(TdxVerifyTest, T4IsAuthenticButTheDebugPolicyRefusesIt) {
  CCFDE_LOAD_TESTDATA(bytes, kT4);
  const TdxQuote quote = parse_or_die(bytes);
  ASSERT_TRUE(verify_tdx_quote(quote, at(kPinned)).ok());
  const Status policy = check_tdx_debug_policy(quote.body);
  EXPECT_EQ(policy.code(), ErrorCode::kPolicyViolation);
  EXPECT_THAT(policy.message(), HasSubstr("TDATTRIBUTES 0100001000000000 has DEBUG (bit 0) set"));
}

TEST(TdxVerifyTest, DebugPolicyAcceptsProductionTds) {
  for (const char* path : {kSprE4, kV5, kCos113, kEva}) {
    CCFDE_LOAD_TESTDATA(bytes, path);
    EXPECT_TRUE(check_tdx_debug_policy(parse_or_die(bytes).body).ok()) << path;
  }
}

TEST(TdxVerifyTest, MinimumTeeTcbSvnIsComponentWise) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);  // TEE_TCB_SVN 03000400...
  const TdxQuote quote = parse_or_die(bytes);
  std::array<std::uint8_t, 16> minimum{};
  EXPECT_TRUE(check_tdx_minimum_tee_tcb_svn(quote.body, minimum).ok());
  minimum = {3, 0, 4};
  EXPECT_TRUE(check_tdx_minimum_tee_tcb_svn(quote.body, minimum).ok());
  minimum = {3, 0, 5};
  Status status = check_tdx_minimum_tee_tcb_svn(quote.body, minimum);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyViolation);
  EXPECT_THAT(status.message(), HasSubstr("component 2 is 4, below the minimum 5"));
  // A higher earlier component does not compensate for a lower later one.
  minimum = {0, 0, 0, 1};
  status = check_tdx_minimum_tee_tcb_svn(quote.body, minimum);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyViolation);
  EXPECT_THAT(status.message(), HasSubstr("component 3 is 0, below the minimum 1"));
}

TEST(TdxVerifyTest, AnyFlippedByteInTheSignedRegionBreaksTheQuoteSignature) {
  CCFDE_LOAD_TESTDATA(bytes, kCos113);
  // Header user data, TEE_TCB_SVN, MRTD, RTMR0, REPORTDATA, last body byte.
  for (std::size_t offset : {30U, 48U, 200U, 400U, 600U, 631U}) {
    auto copy = bytes;
    copy[offset] ^= 0x01;
    const TdxQuote quote = parse_or_die(copy);
    auto verified = verify_tdx_quote(quote, at(kPinned));
    ASSERT_FALSE(verified.ok()) << offset;
    EXPECT_EQ(verified.status().code(), ErrorCode::kSignatureInvalid) << offset;
    EXPECT_THAT(verified.status().message(), HasSubstr("quote signature")) << offset;
  }
}

TEST(TdxVerifyTest, FlippedV5BodyByteBreaksTheQuoteSignature) {
  CCFDE_LOAD_TESTDATA(bytes, kV5);
  auto copy = bytes;
  copy[700] ^= 0x80;  // inside MRSERVICETD, part of the TD 1.5 body only
  auto verified = verify_tdx_quote(parse_or_die(copy), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(verified.status().message(), HasSubstr("quote signature"));
  EXPECT_THAT(verified.status().message(), HasSubstr("[0, 702)"));
}

TEST(TdxVerifyTest, FlippedSignatureBytesAreReportedBySignature) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);

  auto quote_signature = bytes;
  quote_signature[kV4QuoteSignature + 40] ^= 0x01;
  auto verified = verify_tdx_quote(parse_or_die(quote_signature), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(verified.status().message(), HasSubstr("quote signature"));

  auto qe_report = bytes;
  qe_report[kV4QeReport + 0x40] ^= 0x01;  // MRENCLAVE
  verified = verify_tdx_quote(parse_or_die(qe_report), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(verified.status().message(), HasSubstr("QE report signature"));
}

TEST(TdxVerifyTest, ChangedAuthDataBreaksTheQeReportBinding) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  auto copy = bytes;
  copy[kV4QeAuthData] ^= 0x01;
  auto verified = verify_tdx_quote(parse_or_die(copy), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(verified.status().message(), HasSubstr("QE report binding"));
}

TEST(TdxVerifyTest, AttestationKeyOffTheCurveIsMalformed) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  auto copy = bytes;
  copy[kV4AttestationKey + 63] ^= 0x01;  // y no longer matches x
  auto verified = verify_tdx_quote(parse_or_die(copy), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(verified.status().message(), HasSubstr("attestation public key"));
}

TEST(TdxVerifyTest, NonIntelQeVendorIsRefused) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  auto copy = bytes;
  copy[12] ^= 0x01;
  auto verified = verify_tdx_quote(parse_or_die(copy), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(verified.status().message(), HasSubstr("qe_vendor_id"));
}

TEST(TdxVerifyTest, ChainShapeIsChecked) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  const TdxQuote original = parse_or_die(bytes);
  const auto blocks = pem_blocks(original);
  ASSERT_EQ(blocks.size(), 3U);

  // The rebuilt original still verifies: the helper itself is right.
  auto same = with_pem(bytes, blocks[0] + blocks[1] + blocks[2]);
  ASSERT_TRUE(verify_tdx_quote(parse_or_die(same), at(kPinned)).ok());

  auto two = with_pem(bytes, blocks[0] + blocks[1]);
  auto verified = verify_tdx_quote(parse_or_die(two), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(verified.status().message(), HasSubstr("has 2 certificates, expected 3"));

  auto four = with_pem(bytes, blocks[0] + blocks[1] + blocks[2] + blocks[2]);
  verified = verify_tdx_quote(parse_or_die(four), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(verified.status().message(), HasSubstr("has 4 certificates"));

  auto swapped = with_pem(bytes, blocks[1] + blocks[0] + blocks[2]);
  verified = verify_tdx_quote(parse_or_die(swapped), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(verified.status().message(),
              HasSubstr("leaf has common name 'Intel SGX PCK Platform CA', expected 'Intel SGX "
                        "PCK Certificate'"));

  auto garbage = with_pem(bytes, "not a certificate");
  verified = verify_tdx_quote(parse_or_die(garbage), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kCertificateInvalid);
}

TEST(TdxVerifyTest, ForeignRootInTheQuoteIsUntrusted) {
  CCFDE_LOAD_TESTDATA(spr_bytes, kSprE4);
  CCFDE_LOAD_TESTDATA(eva_bytes, kEva);
  const auto spr_blocks = pem_blocks(parse_or_die(spr_bytes));
  const auto eva_blocks = pem_blocks(parse_or_die(eva_bytes));
  ASSERT_EQ(spr_blocks.size(), 3U);
  ASSERT_EQ(eva_blocks.size(), 3U);
  // Production leaf and intermediate, but the quote claims the pre-production root.
  auto mixed = with_pem(spr_bytes, spr_blocks[0] + spr_blocks[1] + eva_blocks[2]);
  auto verified = verify_tdx_quote(parse_or_die(mixed), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kUntrustedRoot);

  // The pre-production root as the trust anchor does not sign the production intermediate.
  auto eva_root = tdx_pck_chain(parse_or_die(eva_bytes));
  ASSERT_TRUE(eva_root.ok());
  verified = verify_tdx_quote(parse_or_die(mixed), eva_root->root.get(), at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kUntrustedRoot);
}

TEST(TdxVerifyTest, PckExtensionsOfT4MatchTrustee) {
  CCFDE_LOAD_TESTDATA(bytes, kT4);
  auto chain = tdx_pck_chain(parse_or_die(bytes));
  ASSERT_TRUE(chain.ok());
  auto extensions = pck_sgx_extensions(chain->leaf.get());
  ASSERT_TRUE(extensions.ok()) << extensions.status().to_string();
  // parse_tdx_claims_expected.json "platform_instance_id" (docs/reference/TEST-VECTORS.md §2.2)
  // prints the 16 bytes of the OCTET STRING in reverse order; we keep the certificate's order.
  std::vector<std::uint8_t> reversed(extensions->platform_instance_id.rbegin(),
                                     extensions->platform_instance_id.rend());
  EXPECT_EQ(hex(reversed), "82548d228d94d5e204a95b354dc61a02");
  EXPECT_EQ(extensions->ppid.size(), 16U);
  EXPECT_EQ(extensions->pce_id.size(), 2U);

  auto none = pck_sgx_extensions(chain->root.get());
  EXPECT_EQ(none.status().code(), ErrorCode::kNotFound);
}

TEST(TdxVerifyTest, NullRootIsAnInvalidArgument) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  auto verified = verify_tdx_quote(parse_or_die(bytes), nullptr, at(kPinned));
  EXPECT_EQ(verified.status().code(), ErrorCode::kInvalidArgument);
}

// Mutations anywhere in a quote (chain included) must never crash verification, and a mutation
// of a signed or signature byte must never verify.
TEST(TdxVerifyTest, MutatedQuotesNeverCrashVerification) {
  CCFDE_LOAD_TESTDATA(bytes, kV5);
  const std::size_t signed_end = 702 + 4 + 134 + 384 + 64 + 2 + 32;  // through the QE auth data
  std::uint32_t state = 777;
  auto next = [&state] {
    state = state * 1103515245U + 12345U;
    return state >> 8;
  };
  for (int round = 0; round < 400; ++round) {
    auto copy = bytes;
    const std::size_t offset = next() % copy.size();
    const auto value = static_cast<std::uint8_t>(next());
    if (copy[offset] == value) continue;
    copy[offset] = value;
    auto quote = parse_tdx_quote(copy);
    if (!quote.ok()) continue;
    auto verified = verify_tdx_quote(*quote, at(kPinned));
    if (offset < signed_end) {
      EXPECT_FALSE(verified.ok()) << "offset " << offset;
    }
  }
}

// --- PCK SGX extension parsing on certificates generated at test time ---

using Der = std::vector<std::uint8_t>;

Der tlv(std::uint8_t tag, const Der& content) {
  Der out{tag};
  if (content.size() < 0x80) {
    out.push_back(static_cast<std::uint8_t>(content.size()));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(content.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(content.size()));
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Der cat(std::initializer_list<Der> parts) {
  Der out;
  for (const Der& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// SEQUENCE { OID 1.2.840.113741.1.13.1.<suffix>, value }
Der entry(std::initializer_list<std::uint8_t> suffix, const Der& value) {
  Der oid = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
  oid.insert(oid.end(), suffix.begin(), suffix.end());
  return tlv(0x30, cat({tlv(0x06, oid), value}));
}

Der integer(unsigned value) {
  Der content;
  do {
    content.insert(content.begin(), static_cast<std::uint8_t>(value));
    value >>= 8;
  } while (value != 0);
  if (content.front() & 0x80) content.insert(content.begin(), 0);
  return tlv(0x02, content);
}

Der octets(std::size_t size, std::uint8_t fill) {
  return tlv(0x04, Der(size, fill));
}

struct ExtensionParts {
  std::array<unsigned, 16> components{128, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  unsigned pce_svn = 65535;
  bool with_pce_svn = true;
  std::size_t fmspc_size = 6;
  bool with_fmspc = true;
};

Der sgx_extension(const ExtensionParts& parts) {
  Der tcb;
  for (std::uint8_t i = 1; i <= 16; ++i) {
    tcb = cat({tcb, entry({2, i}, integer(parts.components[i - 1U]))});
  }
  if (parts.with_pce_svn) tcb = cat({tcb, entry({2, 17}, integer(parts.pce_svn))});
  tcb = cat({tcb, entry({2, 18}, octets(16, 0x42))});
  Der all =
      cat({entry({1}, octets(16, 0x11)), entry({2}, tlv(0x30, tcb)), entry({3}, octets(2, 0))});
  if (parts.with_fmspc) all = cat({all, entry({4}, octets(parts.fmspc_size, 0xab))});
  all = cat({all, entry({5}, tlv(0x0a, {0}))});
  return tlv(0x30, all);
}

// A self-signed P-256 certificate carrying `extension` as the SGX extension.
X509Ptr certificate_with(const Der& extension) {
  static EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr certificate(X509_new());
  EXPECT_TRUE(key && certificate);
  X509_set_version(certificate.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
  X509_NAME* name = X509_get_subject_name(certificate.get());
  const std::string_view cn = "Intel SGX PCK Certificate";
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.data()),
                             static_cast<int>(cn.size()), -1, 0);
  X509_set_issuer_name(certificate.get(), name);
  X509_set_pubkey(certificate.get(), key.get());
  CHandle<ASN1_OBJECT, ASN1_OBJECT_free> oid(OBJ_txt2obj("1.2.840.113741.1.13.1", 1));
  CHandle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free> data(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(data.get(), extension.data(), static_cast<int>(extension.size()));
  CHandle<X509_EXTENSION, X509_EXTENSION_free> ext(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 0, data.get()));
  EXPECT_EQ(X509_add_ext(certificate.get(), ext.get(), -1), 1);
  EXPECT_GT(X509_sign(certificate.get(), key.get(), EVP_sha256()), 0);
  return certificate;
}

TEST(PckSgxExtensionsTest, DecodesMultiByteIntegersAndLongLengths) {
  auto extensions = pck_sgx_extensions(certificate_with(sgx_extension({})).get());
  ASSERT_TRUE(extensions.ok()) << extensions.status().to_string();
  EXPECT_EQ(hex(extensions->cpu_svn_components), "80ff0102030405060708090a0b0c0d0e");
  EXPECT_EQ(extensions->pce_svn, 65535);
  EXPECT_EQ(hex(extensions->cpu_svn), "42424242424242424242424242424242");
  EXPECT_EQ(hex(extensions->fmspc), "abababababab");
  EXPECT_EQ(hex(extensions->ppid), "11111111111111111111111111111111");
  EXPECT_EQ(extensions->sgx_type, 0);
  EXPECT_TRUE(extensions->platform_instance_id.empty());
}

TEST(PckSgxExtensionsTest, RejectsMissingAndMisshapenEntries) {
  struct Case {
    ExtensionParts parts;
    const char* message;
  };
  ExtensionParts no_fmspc;
  no_fmspc.with_fmspc = false;
  ExtensionParts short_fmspc;
  short_fmspc.fmspc_size = 5;
  ExtensionParts no_pce_svn;
  no_pce_svn.with_pce_svn = false;
  ExtensionParts big_component;
  big_component.components[3] = 256;
  ExtensionParts big_pce_svn;
  big_pce_svn.pce_svn = 65536;
  const Case cases[] = {
      {no_fmspc, "FMSPC (.4) is missing"},
      {short_fmspc, "FMSPC is not a 6-byte OCTET STRING"},
      {no_pce_svn, "TCB entry 2.17 is missing"},
      {big_component, "TCB component 4 is 256, above the maximum 255"},
      {big_pce_svn, "PCESVN is 65536, above the maximum 65535"},
  };
  for (const Case& c : cases) {
    auto extensions = pck_sgx_extensions(certificate_with(sgx_extension(c.parts)).get());
    ASSERT_FALSE(extensions.ok()) << c.message;
    EXPECT_EQ(extensions.status().code(), ErrorCode::kCertificateInvalid) << c.message;
    EXPECT_THAT(extensions.status().message(), HasSubstr(c.message));
  }
}

TEST(PckSgxExtensionsTest, RejectsNegativeIntegersAndTrailingBytes) {
  // A component encoded as the single byte 0x80 is -128 in DER.
  Der tcb = entry({2, 1}, tlv(0x02, {0x80}));
  for (std::uint8_t i = 2; i <= 16; ++i) tcb = cat({tcb, entry({2, i}, integer(0))});
  tcb = cat({tcb, entry({2, 17}, integer(1)), entry({2, 18}, octets(16, 0))});
  const Der with_negative = tlv(0x30, cat({entry({1}, octets(16, 0)), entry({2}, tlv(0x30, tcb)),
                                           entry({3}, octets(2, 0)), entry({4}, octets(6, 0))}));
  auto extensions = pck_sgx_extensions(certificate_with(with_negative).get());
  EXPECT_EQ(extensions.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(extensions.status().message(), HasSubstr("TCB component 1 is not a small"));

  Der trailing = sgx_extension({});
  trailing.push_back(0);
  extensions = pck_sgx_extensions(certificate_with(trailing).get());
  EXPECT_EQ(extensions.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(extensions.status().message(), HasSubstr("bytes follow the top-level SEQUENCE"));
}

TEST(PckSgxExtensionsTest, EveryTruncationIsRejected) {
  const Der full = sgx_extension({});
  for (std::size_t length = 0; length < full.size(); ++length) {
    const Der truncated(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    auto extensions = pck_sgx_extensions(certificate_with(truncated).get());
    ASSERT_FALSE(extensions.ok()) << length;
    EXPECT_EQ(extensions.status().code(), ErrorCode::kCertificateInvalid) << length;
  }
}

}  // namespace
}  // namespace ccfde::measure
