// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/configfs_tsm.h"

#include <gtest/gtest.h>

#include "ccfde/testing/testdata.h"
#include "fakes.h"

namespace ccfde::measure {
namespace {

using fakes::FakeTsmKernel;
using fakes::TsmKernelState;

ReportData test_report_data() {
  ReportData data{};
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i + 1);
  return data;
}

bool directory_is_empty(const std::filesystem::path& dir) {
  return std::filesystem::is_empty(dir);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

struct Fixture {
  testing::TempDir dir;
  std::shared_ptr<TsmKernelState> state = std::make_shared<TsmKernelState>();
  ConfigfsTsmSource source(ConfigfsTsmOptions options = {}) {
    return ConfigfsTsmSource(dir.path(), options, std::make_unique<FakeTsmKernel>(state));
  }
};

TEST(ConfigfsTsm, TdxQuoteThroughOnePrivateInstance) {
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/cos-113-tdx-quote.dat");
  ASSERT_EQ(quote.size(), 8000u);
  Fixture f;
  f.state->outblob = quote;
  auto source = f.source();
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->tee, TeeKind::kTdx);
  EXPECT_EQ(evidence->primary, quote);
  EXPECT_TRUE(evidence->auxiliary.empty());
  EXPECT_EQ(evidence->source, source.name());
  ASSERT_TRUE(f.state->inblob.has_value());
  const ReportData expected = test_report_data();
  EXPECT_EQ(*f.state->inblob, Bytes(expected.begin(), expected.end()));
  EXPECT_FALSE(f.state->privlevel.has_value());
  ASSERT_EQ(f.state->created.size(), 1u);
  EXPECT_EQ(f.state->created[0].filename().string().rfind("ccfde-", 0), 0u);
  EXPECT_EQ(f.state->removed, f.state->created);
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, EachRequestUsesAFreshInstance) {
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/cos-113-tdx-quote.dat");
  Fixture f;
  f.state->outblob = quote;
  auto source = f.source();
  ASSERT_TRUE(source.get_evidence(test_report_data()).ok());
  ASSERT_TRUE(source.get_evidence(test_report_data()).ok());
  ASSERT_EQ(f.state->created.size(), 2u);
  EXPECT_NE(f.state->created[0], f.state->created[1]);
}

TEST(ConfigfsTsm, SnpReportWithAuxblobAndPrivlevel) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  ASSERT_EQ(report.size(), 1184u);
  Fixture f;
  f.state->provider = "sev_guest";
  f.state->outblob = report;
  f.state->auxblob = Bytes(100, 0xC3);
  auto source = f.source(ConfigfsTsmOptions{2});
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->tee, TeeKind::kSnp);
  EXPECT_EQ(evidence->primary, report);
  EXPECT_EQ(evidence->auxiliary, Bytes(100, 0xC3));
  EXPECT_EQ(f.state->privlevel, "2");
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, RacingWriterAfterOurWriteIsBusy) {
  Fixture f;
  f.state->outblob = Bytes(1000, 1);
  f.state->racing_writes_per_write = 1;
  auto source = f.source();
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kBusy);
  EXPECT_TRUE(contains(evidence.status().message(), "generation went from 0 to 2 after 1 write"))
      << evidence.status().message();
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, RacingWriterDuringTheReadIsBusy) {
  Fixture f;
  f.state->outblob = Bytes(1000, 1);
  f.state->race_during_read = true;
  auto source = f.source();
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kBusy);
  EXPECT_TRUE(contains(evidence.status().message(), "changed from 1 to 2"))
      << evidence.status().message();
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, EmptyOutblobIsAFirmwareError) {
  Fixture f;
  auto source = f.source();
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kFirmwareError);
  EXPECT_TRUE(contains(evidence.status().message(), "empty"));
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, ShortOutblobIsTruncated) {
  Fixture f;
  f.state->outblob = Bytes(635, 1);
  auto tdx = f.source().get_evidence(test_report_data());
  ASSERT_FALSE(tdx.ok());
  EXPECT_EQ(tdx.status().code(), ErrorCode::kTruncated);
  EXPECT_TRUE(contains(tdx.status().message(), "635 bytes"));

  f.state->provider = "sev_guest";
  f.state->outblob = Bytes(1183, 1);
  auto snp = f.source().get_evidence(test_report_data());
  ASSERT_FALSE(snp.ok());
  EXPECT_EQ(snp.status().code(), ErrorCode::kTruncated);
  f.state->outblob = Bytes(1185, 1);
  auto oversized = f.source().get_evidence(test_report_data());
  EXPECT_EQ(oversized.status().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, UnknownProviderIsUnsupported) {
  Fixture f;
  f.state->provider = "arm_cca_guest";
  auto evidence = f.source().get_evidence(test_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(evidence.status().message(), "arm_cca_guest"));
  EXPECT_FALSE(f.state->inblob.has_value());
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, PrivlevelIsCheckedBeforeUse) {
  Fixture f;
  auto out_of_range = f.source(ConfigfsTsmOptions{4}).get_evidence(test_report_data());
  EXPECT_EQ(out_of_range.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(f.state->created.empty());

  f.state->outblob = Bytes(1000, 1);  // provider tdx_guest
  auto for_tdx = f.source(ConfigfsTsmOptions{1}).get_evidence(test_report_data());
  EXPECT_EQ(for_tdx.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(for_tdx.status().message(), "tdx_guest"));
  EXPECT_FALSE(f.state->inblob.has_value());
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, OutblobReadErrorsKeepTheirCodeAndCleanUp) {
  Fixture f;
  f.state->outblob_error = make_errno_error(ErrorCode::kDeadlineExceeded, ETIMEDOUT, "timed out");
  auto evidence = f.source().get_evidence(test_report_data());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(evidence.status().sys_errno(), ETIMEDOUT);
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, PlainDirectoryWithoutAttributesIsNotFoundAndCleanedUp) {
  testing::TempDir dir;
  ConfigfsTsmSource source(dir.path());
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(contains(evidence.status().message(), "provider")) << evidence.status().message();
  EXPECT_TRUE(directory_is_empty(dir.path()));
}

TEST(ConfigfsTsm, MissingReportRootIsNotFound) {
  testing::TempDir dir;
  ConfigfsTsmSource source(dir.path() / "tsm" / "report");
  auto evidence = source.get_evidence(test_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(contains(evidence.status().message(), "CONFIG_TSM_REPORTS"));
}

TEST(ConfigfsTsm, ProbeProviderLeavesNoInstance) {
  Fixture f;
  f.state->provider = "sev_guest";
  auto source = f.source();
  auto tee = source.probe_provider();
  ASSERT_TRUE(tee.ok()) << tee.status().to_string();
  EXPECT_EQ(*tee, TeeKind::kSnp);
  EXPECT_EQ(f.state->created.size(), 1u);
  EXPECT_EQ(f.state->removed, f.state->created);
  EXPECT_TRUE(directory_is_empty(f.dir.path()));
}

TEST(ConfigfsTsm, ProviderNames) {
  EXPECT_EQ(*tee_kind_from_tsm_provider("tdx_guest\n"), TeeKind::kTdx);
  EXPECT_EQ(*tee_kind_from_tsm_provider("sev_guest"), TeeKind::kSnp);
  EXPECT_EQ(tee_kind_from_tsm_provider("tdx_guest \n").status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(tee_kind_from_tsm_provider("").status().code(), ErrorCode::kUnsupported);
}

TEST(PosixTsmFileOps, ReadBlobEnforcesTheLimitAndReadsLargeBlobsWhole) {
  testing::TempDir dir;
  PosixTsmFileOps ops;
  ASSERT_TRUE(write_file(dir.path() / "blob", Bytes(kTsmBlobMax, 0x11)).ok());
  auto whole = ops.read_blob(dir.path() / "blob", kTsmBlobMax);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->size(), kTsmBlobMax);
  auto capped = ops.read_blob(dir.path() / "blob", 100);
  EXPECT_EQ(capped.status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(ops.read_blob(dir.path() / "absent", 10).status().code(), ErrorCode::kNotFound);
}

TEST(PosixTsmFileOps, WriteAndDirectoryErrors) {
  testing::TempDir dir;
  PosixTsmFileOps ops;
  EXPECT_EQ(ops.write_blob(dir.path() / "absent", as_bytes("x")).code(), ErrorCode::kNotFound);
  ASSERT_TRUE(ops.make_directory(dir.path() / "instance").ok());
  auto again = ops.make_directory(dir.path() / "instance");
  EXPECT_EQ(again.code(), ErrorCode::kDeviceError);
  EXPECT_EQ(again.sys_errno(), EEXIST);
  auto into_directory = ops.write_blob(dir.path() / "instance", as_bytes("x"));
  EXPECT_EQ(into_directory.code(), ErrorCode::kDeviceError);
  EXPECT_EQ(into_directory.sys_errno(), EISDIR);
  EXPECT_TRUE(ops.remove_directory(dir.path() / "instance").ok());
  EXPECT_EQ(ops.remove_directory(dir.path() / "instance").code(), ErrorCode::kDeviceError);
}

}  // namespace
}  // namespace ccfde::measure
