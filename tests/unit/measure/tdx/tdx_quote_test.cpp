// SPDX-License-Identifier: Apache-2.0
// Parser tests against the five real quotes of docs/reference/TEST-VECTORS.md §2 and against
// mutated copies.
#include "ccfde/measure/tdx_quote.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/testing/testdata.h"
#include "tdx_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;

using namespace tdx_test;

const std::string kZero48(96, '0');

struct QuoteCase {
  const char* path;
  std::uint16_t version;
  std::size_t file_size;
  const char* user_data;
  std::size_t signed_size;
  std::uint32_t signature_data_len;
  std::size_t trailing;
  std::uint32_t cert_data_size;
  std::size_t pem_size;
  bool pem_ends_with_nul;
  std::uint16_t qe_isv_svn;
  const char* tee_tcb_svn;
  const char* mr_seam;
  const char* td_attributes;
  const char* xfam;
  const char* mr_td;
  const char* rtmr0;
  const char* rtmr1;
  const char* rtmr2;
  const char* report_data;
};

// Values read from the quotes (docs/reference/TEST-VECTORS.md §2.1 and §2.2).
const QuoteCase kCases[] = {
    {kSprE4,
     4,
     4974,
     "739c3f292a15bace1f726351a70d4b7900000000",
     632,
     4299,
     39,
     4165,
     3677,
     false,
     4,
     "03000400000000000000000000000000",
     "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c"
     "6"
     "56",
     "0000004000000000",
     "e71a060000000000",
     "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215"
     "c"
     "bb",
     "2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f"
     "3"
     "2a",
     "2c700b8ba9b85783f8be9fb9443647bdc0bb3c50747f06297cc6538c25a5f589c4b56d035c59107c6bc5800db2cac"
     "b"
     "61",
     "8652f0caaba7e215ea442dc36a4499d8fec3362f3a0b2ca151cbe4b3e6466fe59c7368b3c2287fc7c3bf5c924eb44"
     "2"
     "4e",
     "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dace"
     "a"
     "d6f0c87a6d766c66f6f29f8acb281f1113"},
    {kV5,
     5,
     5006,
     "ba103c0e5dffa40351f9d5dd559888eb00000000",
     702,
     4300,
     0,
     4166,
     3678,
     true,
     7,
     "0b010400000000000000000000000000",
     "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9"
     "a"
     "9d",
     "0000001000000000",
     "e702060000000000",
     "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f"
     "8"
     "76",
     "5c8daf76063a71ac8fcef4067564661fc682ed7944c7a5d21dbbced02f61ceff4ba0678c6aef3bdae8cbc614cec24"
     "6"
     "19",
     "463acaace1b6e97c76e92e41fe312aa66f3fd4dad60ec7acf169859db0343e3d1e591646795cdc80fbc0ca5f7041d"
     "2"
     "53",
     "6369b9c9a3b791ebcbdc5a0bb9536cfb57f50df2b393b33c8b29616d3568baa61f4b59dc6092e31ea8764bcbdfc69"
     "f"
     "20",
     "945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1"
     "2"
     "55c9c79ecb3ed82cd1b486233e31c25c3a"},
    {kCos113,
     4,
     8000,
     "0000000000000000000000000000000000000000",
     632,
     4299,
     3065,
     4165,
     3677,
     false,
     6,
     "04010700000000000000000000000000",
     "ffc97a88587660fb04e1f7c851300c96ae0b5a463ac46d035d16c2d9f36d0ed1d23775bcbd27deb219e3a3cc28023"
     "8"
     "95",
     "0000001000000000",
     "e700060000000000",
     "dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f"
     "9"
     "4a",
     "3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd1"
     "7"
     "f6",
     "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b12"
     "2"
     "c1",
     "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe"
     "7"
     "c1",
     nullptr},
    {kT4,
     4,
     4936,
     "d099bfec0a477aa85a605dceabf2b10800000000",
     632,
     4300,
     0,
     4166,
     3678,
     true,
     4,
     "03000500000000000000000000000000",
     "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c"
     "6"
     "56",
     "0100001000000000",
     "e742060000000000",
     "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f"
     "0"
     "31",
     "e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b"
     "2"
     "88",
     "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a"
     "5"
     "96",
     nullptr,
     "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85"
     "b"
     "45c8a28fee1d3bdb38342bf96671501429"},
    {kEva,
     4,
     5026,
     "339b8a7d07233616ff04582b7573e57800000000",
     632,
     4320,
     70,
     4186,
     3698,
     true,
     1,
     "04010100000000000000000000000000",
     "9790d89a10210ec6968a773cee2ca05b5aa97309f36727a968527be4606fc19e6f73acce350946c9d46a9bf7a63f8"
     "4"
     "30",
     "0000001000000000",
     "e71a060000000000",
     "f196de066c69e2f9378d4d316f2d4853fb2856f5c9b7fb6d2f4a45aebdb7141645ae302d48550bd0df8ae0915a39b"
     "c"
     "2b",
     "c15727cac1f57d0e91106da180b3eaba72116661e17ba0553773843a9b072ecfa38cc803dfb55e0f87ec236780adb"
     "3"
     "a6",
     "61e958c6f954ce23031fb3cae87bf4da209d697bc15a4aefcdcc92070f7b2df34720b2bb57de89c9d03c7c9aa1136"
     "5"
     "69",
     "247eed9f748b228edb65339138eb20ccf78867bc3ec68bb40faffba40ed0f87444a389001e7d1c46a2df56353c047"
     "c"
     "f2",
     "be588d6fb83c176b1a45f670710d07da4847fe91c131939da3b2cc569c085909fe0fa483d715a9e5d998773d34f6b"
     "a"
     "2910f40a551b0f33f6c9f36dbab8b7771b"},
};

class TdxQuoteVectorTest : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(TdxQuoteVectorTest, ParsesToDocumentedValues) {
  const QuoteCase& c = GetParam();
  CCFDE_LOAD_TESTDATA(bytes, c.path);
  ASSERT_EQ(bytes.size(), c.file_size);
  EXPECT_TRUE(looks_like_tdx_quote(bytes));
  auto parsed = parse_tdx_quote(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  const TdxQuote& q = *parsed;

  EXPECT_EQ(q.header.version, c.version);
  EXPECT_EQ(q.header.attestation_key_type, 2);
  EXPECT_EQ(q.header.tee_type, 0x81U);
  EXPECT_EQ(hex(q.header.reserved), "00000000");
  EXPECT_EQ(hex(q.header.qe_vendor_id), "939a7233f79c4ca9940a0db3957f0607");
  EXPECT_EQ(hex(q.header.user_data), c.user_data);

  EXPECT_EQ(q.signed_region_offset, 0U);
  EXPECT_EQ(q.signed_region_size, c.signed_size);
  ASSERT_EQ(q.signed_region.size(), c.signed_size);
  EXPECT_TRUE(std::equal(q.signed_region.begin(), q.signed_region.end(), bytes.begin()));
  EXPECT_EQ(q.signature_data_len, c.signature_data_len);
  EXPECT_EQ(q.signature_data_offset, c.signed_size + 4);
  EXPECT_EQ(q.trailing_bytes.size(), c.trailing);
  EXPECT_EQ(c.signed_size + 4 + c.signature_data_len + c.trailing, c.file_size);
  EXPECT_EQ(q.certification_data_type, 6);
  EXPECT_EQ(q.certification_data_size, c.cert_data_size);
  EXPECT_EQ(q.qe_auth_data.size(), 32U);
  EXPECT_EQ(q.pck_cert_data_type, 5);
  ASSERT_EQ(q.pck_chain_pem.size(), c.pem_size);
  EXPECT_EQ(q.pck_chain_pem.back() == 0, c.pem_ends_with_nul);

  EXPECT_EQ(q.qe_report.isv_svn, c.qe_isv_svn);
  EXPECT_EQ(q.qe_report.isv_prod_id, 2);
  EXPECT_EQ(hex(q.qe_report.attributes), "1500000000000000e700000000000000");
  EXPECT_EQ(hex(q.qe_report.mr_signer),
            "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
  // The raw QE report is the 384 bytes right after the certification data header.
  const std::size_t qe_report_offset = c.signed_size + 4 + 134;
  EXPECT_TRUE(std::equal(q.qe_report_raw.begin(), q.qe_report_raw.end(),
                         bytes.begin() + static_cast<std::ptrdiff_t>(qe_report_offset)));

  const TdxQuoteBody& b = q.body;
  EXPECT_EQ(hex(b.tee_tcb_svn), c.tee_tcb_svn);
  EXPECT_EQ(hex(b.mr_seam), c.mr_seam);
  EXPECT_EQ(hex(b.mr_signer_seam), kZero48);
  EXPECT_EQ(hex(b.seam_attributes), "0000000000000000");
  EXPECT_EQ(hex(b.td_attributes), c.td_attributes);
  EXPECT_EQ(hex(b.xfam), c.xfam);
  EXPECT_EQ(hex(b.mr_td), c.mr_td);
  EXPECT_EQ(hex(b.mr_config_id), kZero48);
  EXPECT_EQ(hex(b.mr_owner), kZero48);
  EXPECT_EQ(hex(b.mr_owner_config), kZero48);
  EXPECT_EQ(hex(b.rtmr[0]), c.rtmr0);
  EXPECT_EQ(hex(b.rtmr[1]), c.rtmr1);
  EXPECT_EQ(hex(b.rtmr[2]), c.rtmr2 != nullptr ? std::string(c.rtmr2) : kZero48);
  EXPECT_EQ(hex(b.rtmr[3]), kZero48);
  EXPECT_EQ(hex(b.report_data),
            c.report_data != nullptr ? std::string(c.report_data) : std::string(128, '0'));
}

INSTANTIATE_TEST_SUITE_P(AllVectors, TdxQuoteVectorTest, ::testing::ValuesIn(kCases),
                         [](const auto& test_info) { return vector_name(test_info.param.path); });

TEST(TdxQuoteTest, V5HasTd15BodyAndSignedRegionOf702Bytes) {
  CCFDE_LOAD_TESTDATA(bytes, kV5);
  auto q = parse_tdx_quote(bytes);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(q->body_descriptor_type, 3);
  EXPECT_EQ(q->body_size, 648U);
  EXPECT_EQ(q->body.type, TdxBodyType::kTd15);
  EXPECT_EQ(q->signed_region_size, 702U);
  EXPECT_EQ(hex(q->body.tee_tcb_svn2), "0d010400000000000000000000000000");
  EXPECT_EQ(hex(q->body.mr_service_td), kZero48);
}

TEST(TdxQuoteTest, TrailingBytesAreKeptAsFound) {
  CCFDE_LOAD_TESTDATA(spr, kSprE4);
  auto q = parse_tdx_quote(spr);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(std::string(as_chars(q->trailing_bytes)), "\nextra bytes(only for testing purpose)\n");

  CCFDE_LOAD_TESTDATA(cos, kCos113);
  auto cos_quote = parse_tdx_quote(cos);
  ASSERT_TRUE(cos_quote.ok());
  EXPECT_EQ(cos_quote->trailing_bytes, std::vector<std::uint8_t>(3065, 0));

  CCFDE_LOAD_TESTDATA(eva, kEva);
  auto eva_quote = parse_tdx_quote(eva);
  ASSERT_TRUE(eva_quote.ok());
  EXPECT_EQ(eva_quote->trailing_bytes, std::vector<std::uint8_t>(70, 0));
}

// Trustee's expected parse of T4; multi-byte header fields there are hex of the LE bytes.
TEST(TdxQuoteTest, T4MatchesTrusteeExpectedClaims) {
  CCFDE_LOAD_TESTDATA(bytes, kT4);
  CCFDE_LOAD_TESTDATA(claims_text,
                      "trustee/deps/verifier/test_data/parse_tdx_claims_expected.json");
  const auto claims = nlohmann::json::parse(as_chars(claims_text));
  auto q = parse_tdx_quote(bytes);
  ASSERT_TRUE(q.ok());
  const auto& header = claims.at("quote").at("header");
  const std::span<const std::uint8_t> raw(bytes);
  EXPECT_EQ(hex(raw.subspan(0, 2)), header.at("version").get<std::string>());
  EXPECT_EQ(q->header.version, 4);
  EXPECT_EQ(hex(raw.subspan(2, 2)), header.at("att_key_type").get<std::string>());
  EXPECT_EQ(hex(raw.subspan(4, 4)), header.at("tee_type").get<std::string>());
  EXPECT_EQ(hex(q->header.reserved), header.at("reserved").get<std::string>());
  EXPECT_EQ(hex(q->header.qe_vendor_id), header.at("vendor_id").get<std::string>());
  EXPECT_EQ(hex(q->header.user_data), header.at("user_data").get<std::string>());

  const auto& body = claims.at("quote").at("body");
  const TdxQuoteBody& b = q->body;
  EXPECT_EQ(hex(b.tee_tcb_svn), body.at("tcb_svn").get<std::string>());
  EXPECT_EQ(hex(b.mr_seam), body.at("mr_seam").get<std::string>());
  EXPECT_EQ(hex(b.mr_signer_seam), body.at("mrsigner_seam").get<std::string>());
  EXPECT_EQ(hex(b.seam_attributes), body.at("seam_attributes").get<std::string>());
  EXPECT_EQ(hex(b.td_attributes), body.at("td_attributes").get<std::string>());
  EXPECT_EQ(hex(b.xfam), body.at("xfam").get<std::string>());
  EXPECT_EQ(hex(b.mr_td), body.at("mr_td").get<std::string>());
  EXPECT_EQ(hex(b.mr_config_id), body.at("mr_config_id").get<std::string>());
  EXPECT_EQ(hex(b.mr_owner), body.at("mr_owner").get<std::string>());
  EXPECT_EQ(hex(b.mr_owner_config), body.at("mr_owner_config").get<std::string>());
  EXPECT_EQ(hex(b.rtmr[0]), body.at("rtmr_0").get<std::string>());
  EXPECT_EQ(hex(b.rtmr[1]), body.at("rtmr_1").get<std::string>());
  EXPECT_EQ(hex(b.rtmr[2]), body.at("rtmr_2").get<std::string>());
  EXPECT_EQ(hex(b.rtmr[3]), body.at("rtmr_3").get<std::string>());
  EXPECT_EQ(hex(b.report_data), body.at("report_data").get<std::string>());

  const auto json = to_json(*q);
  const auto& flags = json.at("body").at("td_attributes_flags");
  const auto& expected_flags = claims.at("td_attributes");
  EXPECT_EQ(flags.at("debug"), expected_flags.at("debug"));
  EXPECT_EQ(flags.at("sept_ve_disable"), expected_flags.at("septve_disable"));
  EXPECT_EQ(flags.at("key_locker"), expected_flags.at("key_locker"));
  EXPECT_EQ(flags.at("perfmon"), expected_flags.at("perfmon"));
  EXPECT_EQ(flags.at("protection_keys"), expected_flags.at("protection_keys"));
}

TEST(TdxQuoteTest, JsonShowsTheFields) {
  CCFDE_LOAD_TESTDATA(bytes, kV5);
  auto q = parse_tdx_quote(bytes);
  ASSERT_TRUE(q.ok());
  const auto json = to_json(*q);
  EXPECT_EQ(json.at("header").at("version"), 5);
  EXPECT_EQ(json.at("header").at("qe_vendor_is_intel"), true);
  EXPECT_EQ(json.at("body").at("type"), "td15");
  EXPECT_EQ(json.at("body").at("mr_td"),
            "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f75"
            "0c3bc8f876");
  EXPECT_EQ(json.at("body").at("tee_tcb_svn2"), "0d010400000000000000000000000000");
  EXPECT_EQ(json.at("signed_region").at("size"), 702);
  EXPECT_EQ(json.at("qe_report").at("isv_svn"), 7);
  EXPECT_EQ(json.at("pck_cert_data_size"), 3678);
  const std::string pem = json.at("pck_chain_pem").get<std::string>();
  EXPECT_THAT(pem, ::testing::StartsWith("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(pem, ::testing::EndsWith("-----END CERTIFICATE-----\n"));
  EXPECT_NO_THROW((void)json.dump());
}

TEST(TdxQuoteTest, JsonShowsABinaryChainAsHex) {
  CCFDE_LOAD_TESTDATA(bytes, kT4);
  bytes.at(kV4PckSize + 4 + 10) = 0xff;  // inside the PEM text
  auto q = parse_tdx_quote(bytes);
  ASSERT_TRUE(q.ok());
  const auto json = to_json(*q);
  EXPECT_FALSE(json.contains("pck_chain_pem"));
  EXPECT_EQ(json.at("pck_chain_hex").get<std::string>().size(), 2U * 3678U);
  EXPECT_NO_THROW((void)json.dump());
}

TEST(TdxQuoteTest, V5WithTd10BodyParses) {
  CCFDE_LOAD_TESTDATA(v4, kCos113);
  // Rebuild COS113 as a v5 quote: header, type 2, size 584, then the v4 remainder.
  std::vector<std::uint8_t> v5(v4.begin(), v4.begin() + 48);
  v5.insert(v5.end(), {2, 0, 0x48, 0x02, 0, 0});
  v5.insert(v5.end(), v4.begin() + 48, v4.end());
  put_u16(v5, 0, 5);
  auto q = parse_tdx_quote(v5);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(q->body.type, TdxBodyType::kTd10);
  EXPECT_EQ(q->signed_region_size, 638U);
  EXPECT_EQ(hex(q->body.mr_td),
            "dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1"
            "d04231f94a");
  EXPECT_EQ(q->trailing_bytes.size(), 3065U);
}

TEST(TdxQuoteTest, EveryTruncationIsReportedAsTruncated) {
  for (const char* path : {kSprE4, kV5}) {
    CCFDE_LOAD_TESTDATA(bytes, path);
    auto full = parse_tdx_quote(bytes);
    ASSERT_TRUE(full.ok());
    const std::size_t needed = full->signed_region_size + 4 + full->signature_data_len;
    for (std::size_t length = 0; length < needed; ++length) {
      auto q = parse_tdx_quote(std::span<const std::uint8_t>(bytes).first(length));
      ASSERT_FALSE(q.ok()) << path << " length " << length;
      ASSERT_EQ(q.status().code(), ErrorCode::kTruncated)
          << path << " length " << length << ": " << q.status().to_string();
    }
    // Anything from the end of the signature data on parses, with fewer trailing bytes.
    for (std::size_t length = needed; length <= bytes.size(); ++length) {
      auto q = parse_tdx_quote(std::span<const std::uint8_t>(bytes).first(length));
      ASSERT_TRUE(q.ok()) << path << " length " << length << ": " << q.status().to_string();
      EXPECT_EQ(q->trailing_bytes.size(), length - needed);
    }
  }
}

TEST(TdxQuoteTest, TruncationMessagesNameTheField) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  auto q = parse_tdx_quote(std::span<const std::uint8_t>(bytes).first(200));
  ASSERT_EQ(q.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(q.status().message(), HasSubstr("body.mr_td"));
  EXPECT_THAT(q.status().message(), HasSubstr("184"));

  q = parse_tdx_quote(std::span<const std::uint8_t>(bytes).first(1000));
  ASSERT_EQ(q.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(q.status().message(), HasSubstr("signature_data_len at offset 632 declares 4299"));
}

TEST(TdxQuoteTest, RejectsUnknownVersions) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  for (std::uint16_t version : std::initializer_list<std::uint16_t>{0, 3, 6, 0xffff}) {
    auto copy = bytes;
    put_u16(copy, 0, version);
    EXPECT_FALSE(looks_like_tdx_quote(copy));
    auto q = parse_tdx_quote(copy);
    ASSERT_EQ(q.status().code(), ErrorCode::kUnsupportedVersion) << version;
    EXPECT_THAT(
        q.status().message(),
        HasSubstr(fmt::format("header.version at offset 0 is {}, expected 4 or 5", version)));
  }
}

TEST(TdxQuoteTest, RejectsOtherKeyTypesAndTeeTypes) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  auto key = bytes;
  put_u16(key, 2, 3);
  EXPECT_FALSE(looks_like_tdx_quote(key));
  auto q = parse_tdx_quote(key);
  ASSERT_EQ(q.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(q.status().message(), HasSubstr("attestation_key_type at offset 2 is 3"));

  auto tee = bytes;
  put_u32(tee, 4, 0);  // SGX
  EXPECT_FALSE(looks_like_tdx_quote(tee));
  q = parse_tdx_quote(tee);
  ASSERT_EQ(q.status().code(), ErrorCode::kUnsupportedAlgorithm);
  EXPECT_THAT(q.status().message(), HasSubstr("tee_type at offset 4 is 0x0, expected 0x81"));
}

TEST(TdxQuoteTest, RejectsBadV5BodyDescriptors) {
  CCFDE_LOAD_TESTDATA(bytes, kV5);
  struct Case {
    std::uint16_t type;
    std::uint32_t size;
    ErrorCode code;
    const char* message;
  };
  const Case cases[] = {
      {1, 384, ErrorCode::kUnsupportedAlgorithm, "body_descriptor.type at offset 48 is 1"},
      {4, 648, ErrorCode::kUnsupportedAlgorithm, "body_descriptor.type at offset 48 is 4"},
      {3, 584, ErrorCode::kMalformed, "body_descriptor.size at offset 50 is 584, expected 648"},
      {2, 648, ErrorCode::kMalformed, "body_descriptor.size at offset 50 is 648, expected 584"},
      {3, 0xffffffff, ErrorCode::kMalformed, "is 4294967295, expected 648"},
  };
  for (const Case& c : cases) {
    auto copy = bytes;
    put_u16(copy, 48, c.type);
    put_u32(copy, 50, c.size);
    auto q = parse_tdx_quote(copy);
    ASSERT_EQ(q.status().code(), c.code) << c.type << "/" << c.size;
    EXPECT_THAT(q.status().message(), HasSubstr(c.message));
  }
}

TEST(TdxQuoteTest, RejectsInconsistentSignatureDataSizes) {
  CCFDE_LOAD_TESTDATA(bytes, kSprE4);
  struct Case {
    std::size_t offset;
    std::uint32_t value;
    bool wide;
    ErrorCode code;
    const char* message;
  };
  const Case cases[] = {
      {kV4SignatureDataLen, 0xffffffff, true, ErrorCode::kTruncated,
       "signature_data_len at offset 632 declares 4294967295 bytes"},
      // Shorter signature data: the certification data no longer fits in it.
      {kV4SignatureDataLen, 200, true, ErrorCode::kMalformed,
       "certification_data_size at offset 766 declares 4165 bytes"},
      {kV4SignatureDataLen, 100, true, ErrorCode::kMalformed, "signature data"},
      // One byte longer (SPR_E4 has trailing bytes to take it from): an unused byte.
      {kV4SignatureDataLen, 4300, true, ErrorCode::kMalformed, "1 unused bytes"},
      {kV4CertDataType, 5, false, ErrorCode::kUnsupportedAlgorithm,
       "certification_data_type at offset 764 is 5, expected 6"},
      {kV4CertDataSize, 0xffffffff, true, ErrorCode::kMalformed,
       "certification_data_size at offset 766 declares 4294967295 bytes"},
      {kV4CertDataSize, 4164, true, ErrorCode::kMalformed, "pck_cert_data_size"},
      {kV4QeAuthSize, 0xffff, false, ErrorCode::kMalformed,
       "qe_auth_data_size at offset 1218 declares 65535 bytes"},
      {kV4PckType, 4, false, ErrorCode::kUnsupportedAlgorithm,
       "pck_cert_data_type at offset 1252 is 4, expected 5"},
      {kV4PckSize, 0xffffffff, true, ErrorCode::kMalformed,
       "pck_cert_data_size at offset 1254 declares 4294967295 bytes"},
      {kV4PckSize, 3676, true, ErrorCode::kMalformed, "1 unused bytes"},
  };
  for (const Case& c : cases) {
    auto copy = bytes;
    if (c.wide) {
      put_u32(copy, c.offset, c.value);
    } else {
      put_u16(copy, c.offset, static_cast<std::uint16_t>(c.value));
    }
    auto q = parse_tdx_quote(copy);
    ASSERT_FALSE(q.ok()) << c.offset << "=" << c.value;
    EXPECT_EQ(q.status().code(), c.code)
        << c.offset << "=" << c.value << ": " << q.status().to_string();
    EXPECT_THAT(q.status().message(), HasSubstr(c.message));
  }
}

TEST(TdxQuoteTest, LooksLikeRejectsOtherInputs) {
  EXPECT_FALSE(looks_like_tdx_quote({}));
  std::vector<std::uint8_t> header(48, 0);
  put_u16(header, 0, 4);
  put_u16(header, 2, 2);
  put_u32(header, 4, 0x81);
  EXPECT_TRUE(looks_like_tdx_quote(header));
  EXPECT_FALSE(looks_like_tdx_quote(std::span<const std::uint8_t>(header).first(47)));
  // An SNP report starts with version 2..5 and guest SVN: not a TDX quote.
  std::vector<std::uint8_t> snp(1184, 0);
  put_u32(snp, 0, 2);
  EXPECT_FALSE(looks_like_tdx_quote(snp));
}

// A cheap stand-in for the fuzzer: byte mutations over the structured part must never crash and
// never produce an OK result with an inconsistent layout.
TEST(TdxQuoteTest, MutatedQuotesNeverCrash) {
  CCFDE_LOAD_TESTDATA(bytes, kV5);
  std::uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245U + 12345U;
    return state >> 8;
  };
  for (int round = 0; round < 3000; ++round) {
    auto copy = bytes;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int i = 0; i < flips; ++i) {
      // Bias towards the header and the length fields of the signature data.
      const std::size_t offset = (next() % 2 == 0) ? next() % 64 : 702 + next() % 600;
      copy[offset] = static_cast<std::uint8_t>(next());
    }
    const std::size_t length = (next() % 4 == 0) ? next() % copy.size() : copy.size();
    auto q = parse_tdx_quote(std::span<const std::uint8_t>(copy).first(length));
    if (q.ok()) {
      EXPECT_EQ(q->signed_region_size + 4 + q->signature_data_len + q->trailing_bytes.size(),
                length);
      (void)to_json(*q).dump();
    }
  }
}

}  // namespace
}  // namespace ccfde::measure
