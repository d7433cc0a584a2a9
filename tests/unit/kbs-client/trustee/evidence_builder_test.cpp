// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/evidence_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/snp_cert_table.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/measure/snp_report_json.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/testing/sample_evidence.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::kbs_client {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kWorkedDigest =
    "d504bd210d8191592f6585a7ac2a51a155608949de9ab6f1a50fc9254e52bd81a15f9c95227ce6685ef018cf7cbf63"
    "6f";

Bytes unhex(std::string_view text) {
  auto bytes = hex_decode(text);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : Bytes{};
}

Bytes decode_b64(const json& value) {
  auto bytes = base64_decode(value.get<std::string>());
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  return bytes.ok() ? *bytes : Bytes{};
}

// ---- sample ----

TEST(SampleEvidence, EqualsTheWorkedExample) {
  const json evidence = build_sample_evidence(unhex(kWorkedDigest));
  EXPECT_EQ(evidence,
            json::parse(R"({"svn":"1","report_data":)"
                        R"("1QS9IQ2BkVkvZYWnrCpRoVVgiUnemrbxpQ/JJU5SvYGhX5yVInzmaF7wGM98v2Nv"})"));
}

TEST(SampleEvidence, EqualsTheConstructedVector) {
  CCFDE_LOAD_TESTDATA(vectors_bytes, "constructed/kbs-constructed-vectors.json");
  const json example = json::parse(vectors_bytes)["rcar_runtime_data"];
  EXPECT_EQ(build_sample_evidence(unhex(example["sha384_hex"].get<std::string>())),
            example["sample_evidence"]);
}

// ---- tdx ----

Bytes fake_quote() {
  return Bytes(measure::kEvidenceMinTdxQuoteSize, 0x5A);
}

TEST(TdxEvidence, TrimsTheCcelAtTheEndOfItsRecordsAndTerminatesIt) {
  CCFDE_LOAD_TESTDATA(ccel, "go-tdx-guest/ccel_data.dat");
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/cos-113-tdx-quote.dat");
  ASSERT_EQ(ccel.size(), 262144u);
  auto evidence = build_tdx_evidence(quote, std::span<const std::uint8_t>(ccel));
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  ASSERT_EQ(evidence->size(), 2u);
  EXPECT_EQ(decode_b64((*evidence)["quote"]), quote);

  const Bytes log = decode_b64((*evidence)["cc_eventlog"]);
  // The go-tdx-guest CCEL (docs/reference/TEST-VECTORS.md §4): the last of the 43 records ends at
  // offset 18101.
  ASSERT_EQ(log.size(), 18101u + 8u);
  EXPECT_TRUE(std::equal(log.begin(), log.begin() + 18101, ccel.begin()));
  EXPECT_EQ(Bytes(log.end() - 8, log.end()), Bytes(8, 0xFF));
  auto reparsed = measure::parse_tcg_event_log(log);
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().to_string();
  EXPECT_EQ(reparsed->events.size(), 43u);
  EXPECT_EQ(reparsed->end_offset, 18101u);
}

TEST(TdxEvidence, AGuestComponentsEventLogIsAFixedPoint) {
  // CCEL + AAEL records + 8 x 0xFF exactly as guest-components sends it
  // (docs/reference/TEST-VECTORS.md §4).
  CCFDE_LOAD_TESTDATA(log, "trustee/deps/eventlog/test_data/CCEL_AAEL_alibabacloud");
  ASSERT_EQ(log.size(), 11715u);
  auto trimmed = trim_ccel(log);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().to_string();
  EXPECT_EQ(*trimmed, log);
}

TEST(TdxEvidence, NoEventLogGivesNull) {
  auto evidence = build_tdx_evidence(fake_quote(), std::nullopt);
  ASSERT_TRUE(evidence.ok());
  EXPECT_TRUE((*evidence)["cc_eventlog"].is_null());
  EXPECT_EQ(decode_b64((*evidence)["quote"]), fake_quote());
}

TEST(TdxEvidence, RejectsAShortQuoteAndABadLog) {
  const Bytes short_quote(100, 1);
  auto too_short = build_tdx_evidence(short_quote, std::nullopt);
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(too_short.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(too_short.status().message(), HasSubstr("100 bytes"));

  const Bytes garbage(64, 0x00);
  auto bad_log = build_tdx_evidence(fake_quote(), std::span<const std::uint8_t>(garbage));
  ASSERT_FALSE(bad_log.ok());
  EXPECT_THAT(bad_log.status().message(), HasSubstr("CCEL"));

  const Bytes empty;
  auto empty_log = trim_ccel(empty);
  ASSERT_FALSE(empty_log.ok());
  EXPECT_THAT(empty_log.status().message(), HasSubstr("CCEL"));
}

// ---- snp ----

void append_u32le(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// A GHCB certificate table: entries, an all-zero terminator, then the data.
Bytes make_cert_table(const std::vector<std::pair<std::array<std::uint8_t, 16>, Bytes>>& entries) {
  const std::size_t header = (entries.size() + 1) * 24;
  Bytes table;
  std::size_t offset = header;
  for (const auto& [guid, data] : entries) {
    table.insert(table.end(), guid.begin(), guid.end());
    append_u32le(table, static_cast<std::uint32_t>(offset));
    append_u32le(table, static_cast<std::uint32_t>(data.size()));
    offset += data.size();
  }
  table.resize(header, 0);
  for (const auto& entry : entries)
    table.insert(table.end(), entry.second.begin(), entry.second.end());
  return table;
}

TEST(SnpEvidence, TrusteeTestReportRoundTripsThroughTheJsonForm) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  auto evidence = build_snp_evidence(report, {});
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_TRUE((*evidence)["cert_chain"].is_null());
  const json& form = (*evidence)["attestation_report"];
  // docs/reference/TEST-VECTORS.md §7.1, column TR.
  EXPECT_EQ(form["version"], 2);
  EXPECT_EQ(form["guest_svn"], 4);
  EXPECT_EQ(form["policy"], 0x3001f);
  EXPECT_EQ(form["vmpl"], 0);
  EXPECT_EQ(form["plat_info"], 1);
  EXPECT_EQ(form["current_tcb"]["microcode"], 206);
  EXPECT_EQ(form["reported_tcb"]["microcode"], 115);
  EXPECT_TRUE(form["cpuid_fam_id"].is_null());
  const Bytes measurement = unhex(
      "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3"
      "d3"
      "8c");
  EXPECT_EQ(form["measurement"], json(measurement));

  auto rebuilt = measure::snp_report_from_trustee_json(form);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().to_string();
  EXPECT_EQ(measure::serialize_snp_report(*rebuilt), report);
}

TEST(SnpEvidence, ReproducesTheTrusteeE2eEvidenceExactly) {
  CCFDE_LOAD_TESTDATA(e2e_bytes, "trustee/attestation-service/tests/e2e/evidence.json");
  const json e2e = json::parse(e2e_bytes);
  auto report = measure::snp_report_from_trustee_json(e2e["attestation_report"]);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const Bytes vcek = e2e["cert_chain"][0]["data"].get<Bytes>();
  const Bytes table =
      make_cert_table({{measure::snp_cert_guid(measure::SnpCertType::kVcek), vcek}});

  auto evidence = build_snp_evidence(measure::serialize_snp_report(*report), table);
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(*evidence, e2e);
}

TEST(SnpEvidence, CertChainKeepsTableOrderAndNamesUnknownGuids) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  const std::array<std::uint8_t, 16> other = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                              0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  const Bytes table =
      make_cert_table({{measure::snp_cert_guid(measure::SnpCertType::kVlek), {1, 2}},
                       {measure::snp_cert_guid(measure::SnpCertType::kAsk), {3}},
                       {measure::snp_cert_guid(measure::SnpCertType::kArk), {4}},
                       {other, {5, 6, 7}}});
  auto evidence = build_snp_evidence(report, table);
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ((*evidence)["cert_chain"], json::parse(R"([
    {"cert_type":"VLEK","data":[1,2]},
    {"cert_type":"ASK","data":[3]},
    {"cert_type":"ARK","data":[4]},
    {"cert_type":{"OTHER":"00112233-4455-6677-8899-aabbccddeeff"},"data":[5,6,7]}])"));
}

TEST(SnpEvidence, AnEmptyTableGivesNullAndBadInputsFail) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  auto empty_table = build_snp_evidence(report, Bytes(24, 0));
  ASSERT_TRUE(empty_table.ok()) << empty_table.status().to_string();
  EXPECT_TRUE((*empty_table)["cert_chain"].is_null());

  auto truncated = build_snp_evidence(std::span<const std::uint8_t>(report).first(1000), {});
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), ErrorCode::kTruncated);
  EXPECT_THAT(truncated.status().message(), HasSubstr("SNP attestation report"));

  auto bad_table = build_snp_evidence(report, Bytes(30, 0x41));
  ASSERT_FALSE(bad_table.ok());
  EXPECT_THAT(bad_table.status().message(), HasSubstr("SNP certificate table"));
}

// ---- providers ----

class FakeSource final : public measure::EvidenceSource {
 public:
  FakeSource(measure::TeeKind tee, Bytes primary, Bytes auxiliary = {})
      : tee_(tee), primary_(std::move(primary)), auxiliary_(std::move(auxiliary)) {}
  std::string name() const override { return "fake source"; }
  Result<measure::Evidence> get_evidence(const measure::ReportData& report_data) override {
    requested.push_back(report_data);
    return measure::Evidence{tee_, primary_, auxiliary_, name()};
  }
  std::vector<measure::ReportData> requested;

 private:
  measure::TeeKind tee_;
  Bytes primary_, auxiliary_;
};

TEST(EvidenceProvider, TdxPlacesDigestAndZerosAndSendsTheTrimmedLog) {
  CCFDE_LOAD_TESTDATA(ccel, "go-tdx-guest/ccel_data.dat");
  auto source = std::make_unique<FakeSource>(measure::TeeKind::kTdx, fake_quote());
  FakeSource* raw = source.get();
  int reads = 0;
  auto provider = make_evidence_provider(measure::TeeKind::kTdx, std::move(source),
                                         [&]() -> Result<std::optional<Bytes>> {
                                           ++reads;
                                           return std::optional<Bytes>(ccel);
                                         });
  ASSERT_TRUE(provider.ok()) << provider.status().to_string();
  EXPECT_EQ((*provider)->tee(), measure::TeeKind::kTdx);
  const Bytes digest = unhex(kWorkedDigest);
  auto evidence = (*provider)->primary_evidence(digest);
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  ASSERT_EQ(raw->requested.size(), 1u);
  // docs/reference/TEST-VECTORS.md §10.1: the 64-byte TDX/SNP report data of the worked example.
  EXPECT_EQ(hex_encode(raw->requested[0]), std::string(kWorkedDigest) + std::string(32, '0'));
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(decode_b64((*evidence)["cc_eventlog"]).size(), 18109u);
}

TEST(EvidenceProvider, SnpUsesReportAndCertificateTable) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  const Bytes table = make_cert_table({{measure::snp_cert_guid(measure::SnpCertType::kVcek), {9}}});
  auto source = std::make_unique<FakeSource>(measure::TeeKind::kSnp, report, table);
  FakeSource* raw = source.get();
  auto provider = make_evidence_provider(measure::TeeKind::kSnp, std::move(source));
  ASSERT_TRUE(provider.ok());
  EXPECT_EQ((*provider)->tee(), measure::TeeKind::kSnp);
  const Bytes digest(32, 0xAB);  // a SHA-256 digest is placed the same way
  auto evidence = (*provider)->primary_evidence(digest);
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  ASSERT_EQ(raw->requested.size(), 1u);
  std::string expected;
  for (int i = 0; i < 32; ++i) expected += "ab";
  EXPECT_EQ(hex_encode(raw->requested[0]), expected + std::string(64, '0'));
  EXPECT_EQ((*evidence)["cert_chain"], json::parse(R"([{"cert_type":"VCEK","data":[9]}])"));
}

TEST(EvidenceProvider, SampleUsesTheRawDigestWithoutASource) {
  auto provider = make_evidence_provider(measure::TeeKind::kSample, nullptr);
  ASSERT_TRUE(provider.ok());
  EXPECT_EQ((*provider)->tee(), measure::TeeKind::kSample);
  const Bytes digest(64, 0x01);  // sha512: still unpadded, all 64 bytes
  auto evidence = (*provider)->primary_evidence(digest);
  ASSERT_TRUE(evidence.ok());
  EXPECT_EQ(decode_b64((*evidence)["report_data"]), digest);
}

// The guest checks init-data against its own evidence before sending anything.
TEST(EvidenceProvider, InitDataMustBeInTheEvidenceRegister) {
  const std::string toml = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\nk = \"v\"\n";
  auto init_data = parse_init_data(toml);
  ASSERT_TRUE(init_data.ok());
  auto register_value = init_data_register_value(*init_data, 48);
  ASSERT_TRUE(register_value.ok());

  testing::SampleQuoteSpec spec;
  std::copy(register_value->begin(), register_value->end(), spec.mr_config_id.emplace().begin());
  auto bound = make_evidence_provider(
      measure::TeeKind::kTdx,
      std::make_unique<FakeSource>(measure::TeeKind::kTdx,
                                   testing::build_sample_tdx_quote(spec).quote),
      {}, {}, *init_data);
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ((*bound)->init_data_toml(), toml);
  auto evidence = (*bound)->primary_evidence(Bytes(48, 0));
  EXPECT_TRUE(evidence.ok()) << evidence.status().to_string();

  // The real quotes carry a zero MRCONFIGID, the real SNP report a zero HOST_DATA.
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/tdx_prod_quote_SPR_E4.dat");
  auto unbound = make_evidence_provider(measure::TeeKind::kTdx,
                                        std::make_unique<FakeSource>(measure::TeeKind::kTdx, quote),
                                        {}, {}, *init_data);
  ASSERT_TRUE(unbound.ok());
  auto refused = (*unbound)->primary_evidence(Bytes(48, 0));
  EXPECT_EQ(refused.status().code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(refused.status().message(), HasSubstr("MRCONFIGID holds 0000"));

  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  auto snp = make_evidence_provider(measure::TeeKind::kSnp,
                                    std::make_unique<FakeSource>(measure::TeeKind::kSnp, report),
                                    {}, {}, *init_data);
  ASSERT_TRUE(snp.ok());
  refused = (*snp)->primary_evidence(Bytes(48, 0));
  EXPECT_EQ(refused.status().code(), ErrorCode::kMeasurementMismatch);
  EXPECT_THAT(refused.status().message(), HasSubstr("HOST_DATA"));

  auto sample = make_evidence_provider(measure::TeeKind::kSample, nullptr, {}, {}, *init_data);
  ASSERT_TRUE(sample.ok());
  EXPECT_EQ((*sample)->primary_evidence(Bytes(48, 0)).status().code(), ErrorCode::kUnsupported);

  auto none = make_evidence_provider(measure::TeeKind::kSample, nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->init_data_toml(), "");
}

TEST(EvidenceProvider, RejectsMisuse) {
  auto none = make_evidence_provider(measure::TeeKind::kNone, nullptr);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kInvalidArgument);

  auto no_source = make_evidence_provider(measure::TeeKind::kTdx, nullptr);
  ASSERT_FALSE(no_source.ok());
  EXPECT_EQ(no_source.status().code(), ErrorCode::kInvalidArgument);

  auto wrong = make_evidence_provider(
      measure::TeeKind::kTdx, std::make_unique<FakeSource>(measure::TeeKind::kSnp, Bytes(1184)));
  ASSERT_TRUE(wrong.ok());
  auto mismatch = (*wrong)->primary_evidence(Bytes(48, 0));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), ErrorCode::kInternal);

  auto too_long = (*wrong)->primary_evidence(Bytes(65, 0));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), ErrorCode::kInvalidArgument);
}

TEST(PlatformEvidenceProvider, SampleOnlyWhenPreferredAndNothingDetectedOtherwise) {
  testing::TempDir root;
  const auto paths = measure::PlatformPaths::rooted_at(root.path());
  measure::EvidenceSourceOptions options;
  options.preference = measure::EvidenceSourceKind::kSample;
  auto sample = make_platform_evidence_provider(paths, options);
  ASSERT_TRUE(sample.ok()) << sample.status().to_string();
  EXPECT_EQ((*sample)->tee(), measure::TeeKind::kSample);

  options.preference = measure::EvidenceSourceKind::kAuto;
  auto none = make_platform_evidence_provider(paths, options);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace ccfde::kbs_client
