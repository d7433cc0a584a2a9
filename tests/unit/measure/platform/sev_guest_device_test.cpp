// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/sev_guest_device.h"

#include <gtest/gtest.h>

#include "ccfde/testing/testdata.h"
#include "fakes.h"

namespace ccfde::measure {
namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

ReportData sample_report_data() {
  ReportData data{};
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(0xF0 - i);
  return data;
}

// A GHCB certificate table with one VCEK entry: [entry][terminator][certificate at offset 48].
Bytes certificate_table(const Bytes& certificate) {
  Bytes table(48, 0);
  const Bytes guid = *hex_decode("63da758de6644564adc5f4b93be8accd");
  std::copy(guid.begin(), guid.end(), table.begin());
  const auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int s = 0; s < 4; ++s)
      table[at + static_cast<std::size_t>(s)] = static_cast<std::uint8_t>(v >> (8 * s));
  };
  put32(16, 48);
  put32(20, static_cast<std::uint32_t>(certificate.size()));
  table.insert(table.end(), certificate.begin(), certificate.end());
  return table;
}

struct SevFixture {
  std::shared_ptr<fakes::SevDeviceState> state = std::make_shared<fakes::SevDeviceState>();
  SevGuestDeviceSource source(SevGuestDeviceOptions options = {}) {
    return SevGuestDeviceSource(std::make_unique<fakes::FakeSevDevice>(state), options);
  }
};

TEST(SevGuestDeviceSource, ExtendedReportWithCertificates) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  CCFDE_LOAD_TESTDATA(vcek, "trustee/deps/verifier/test_data/snp/test-vcek.der");
  ASSERT_EQ(vcek.size(), 1360u);
  SevFixture f;
  f.state->report = report;
  f.state->certificate_table = certificate_table(vcek);
  SevGuestDeviceOptions options;
  options.vmpl = 1;
  auto source = f.source(options);
  auto evidence = source.get_evidence(sample_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->tee, TeeKind::kSnp);
  EXPECT_EQ(evidence->primary, report);
  ASSERT_EQ(evidence->auxiliary.size(), 48u + 1360u);
  EXPECT_EQ(Bytes(evidence->auxiliary.begin() + 48, evidence->auxiliary.end()), vcek);
  EXPECT_EQ(f.state->calls, 1);
  EXPECT_EQ(f.state->requests[0], 0xC0205302UL);
  EXPECT_EQ(f.state->msg_version, 1);
  EXPECT_EQ(f.state->vmpl, 1u);
  EXPECT_EQ(f.state->certs_lens[0], 16384u);
  EXPECT_TRUE(f.state->certs_page_aligned);
  const ReportData expected = sample_report_data();
  EXPECT_EQ(f.state->user_data, Bytes(expected.begin(), expected.end()));
}

TEST(SevGuestDeviceSource, RetriesOnceWithTheSizeTheHostAsksFor) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  SevFixture f;
  f.state->report = report;
  f.state->certificate_table = certificate_table(Bytes(5000, 0x30));
  f.state->required_certs_len = 8192;
  SevGuestDeviceOptions options;
  options.certificate_buffer_size = 4096;
  auto evidence = f.source(options).get_evidence(sample_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(f.state->calls, 2);
  EXPECT_EQ(f.state->certs_lens, (std::vector<std::uint32_t>{4096, 8192}));
  EXPECT_TRUE(f.state->certs_page_aligned);
  EXPECT_EQ(evidence->auxiliary.size(), 48u + 5000u);
}

TEST(SevGuestDeviceSource, DoesNotRetryASecondInvalidLen) {
  SevFixture f;
  f.state->report = Bytes(1184, 1);
  f.state->required_certs_len = 8192;
  f.state->requirement_growth = 4096;
  SevGuestDeviceOptions options;
  options.certificate_buffer_size = 4096;
  auto evidence = f.source(options).get_evidence(sample_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kFirmwareError);
  EXPECT_TRUE(contains(evidence.status().message(), "host error 1 (INVALID_LEN)"))
      << evidence.status().message();
  EXPECT_EQ(f.state->calls, 2);
}

TEST(SevGuestDeviceSource, InvalidLenBeyondTheKernelLimitIsNotRetried) {
  SevFixture f;
  f.state->required_certs_len = 20480;
  auto evidence = f.source().get_evidence(sample_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kFirmwareError);
  EXPECT_TRUE(contains(evidence.status().message(), "20480"));
  EXPECT_EQ(f.state->calls, 1);
}

TEST(SevGuestDeviceSource, FirmwareErrorIsDecodedAndNotRetried) {
  SevFixture f;
  f.state->failure_exitinfo2 = 0x16;  // INVALID_PARAM
  auto evidence = f.source().get_evidence(sample_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kFirmwareError);
  EXPECT_EQ(evidence.status().sys_errno(), EIO);
  EXPECT_TRUE(contains(evidence.status().message(), "firmware error 0x16 (INVALID_PARAM)"))
      << evidence.status().message();
  EXPECT_TRUE(contains(evidence.status().message(), "SNP_GET_EXT_REPORT"));
  EXPECT_EQ(f.state->calls, 1);
}

TEST(SevGuestDeviceSource, HostBusyIsBusy) {
  SevFixture f;
  f.state->failure_exitinfo2 = std::uint64_t{kSnpVmmErrorBusy} << 32;
  auto evidence = f.source().get_evidence(sample_report_data());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kBusy);
  EXPECT_TRUE(contains(evidence.status().message(), "host error 2 (BUSY)"));
  EXPECT_EQ(f.state->calls, 1);
}

TEST(SevGuestDeviceSource, ErrnoWithoutFirmwareDetailIsADeviceError) {
  SevFixture f;
  f.state->failure_errno = EINVAL;
  auto evidence = f.source().get_evidence(sample_report_data());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kDeviceError);
  EXPECT_EQ(evidence.status().sys_errno(), EINVAL);
  EXPECT_EQ(f.state->calls, 1);
}

TEST(SevGuestDeviceSource, ResponseStatusAndSizeAreChecked) {
  SevFixture f;
  f.state->report = Bytes(1184, 1);
  f.state->response_status = 0x16;
  auto failed = f.source().get_evidence(sample_report_data());
  EXPECT_EQ(failed.status().code(), ErrorCode::kFirmwareError);
  EXPECT_TRUE(contains(failed.status().message(), "MSG_REPORT_RSP status 0x16 (INVALID_PARAM)"));

  f.state->response_status = 0;
  f.state->response_report_size = 1000;
  auto wrong_size = f.source().get_evidence(sample_report_data());
  EXPECT_EQ(wrong_size.status().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(contains(wrong_size.status().message(), "REPORT_SIZE at offset 4 is 1000"));
}

TEST(SevGuestDeviceSource, PlainReportWithoutCertificates) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  SevFixture f;
  f.state->report = report;
  SevGuestDeviceOptions options;
  options.with_certificates = false;
  auto evidence = f.source(options).get_evidence(sample_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->primary, report);
  EXPECT_TRUE(evidence->auxiliary.empty());
  EXPECT_EQ(f.state->requests, (std::vector<unsigned long>{0xC0205300UL}));
}

TEST(SevGuestDeviceSource, HostWithoutCertificatesGivesEmptyAuxiliary) {
  SevFixture f;
  f.state->report = Bytes(1184, 2);
  auto evidence = f.source().get_evidence(sample_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_TRUE(evidence->auxiliary.empty());
}

TEST(SevGuestDeviceSource, BadCertificateBufferOptionIsRejectedBeforeTheDevice) {
  for (std::size_t size : {std::size_t{0}, std::size_t{5000}, std::size_t{20480}}) {
    SevFixture f;
    SevGuestDeviceOptions options;
    options.certificate_buffer_size = size;
    EXPECT_EQ(f.source(options).get_evidence(sample_report_data()).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(f.state->calls, 0);
  }
}

TEST(SnpCertificateTable, Extent) {
  EXPECT_EQ(*snp_certificate_table_extent(Bytes(4096, 0)), 0u);
  EXPECT_EQ(*snp_certificate_table_extent(certificate_table(Bytes(10, 1))), 58u);

  Bytes beyond = certificate_table(Bytes(10, 1));
  beyond[20] = 11;  // length 11 at offset 48 of a 58-byte table
  auto outside = snp_certificate_table_extent(beyond);
  EXPECT_EQ(outside.status().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(contains(outside.status().message(), "[48, 59)"));

  Bytes no_terminator(24, 0);
  no_terminator[0] = 1;  // one entry (offset 0, length 0) and nothing after it
  auto truncated = snp_certificate_table_extent(no_terminator);
  EXPECT_EQ(truncated.status().code(), ErrorCode::kTruncated);
  EXPECT_TRUE(contains(truncated.status().message(), "entry 1 at offset 24"));

  Bytes overflow(48, 0);
  overflow[0] = 1;
  for (int i = 16; i < 24; ++i) overflow[static_cast<std::size_t>(i)] = 0xFF;
  EXPECT_EQ(snp_certificate_table_extent(overflow).status().code(), ErrorCode::kMalformed);
}

TEST(SnpExitinfo2, Describes) {
  EXPECT_EQ(describe_snp_exitinfo2(0), "no error code");
  EXPECT_EQ(describe_snp_exitinfo2(0x25), "firmware error 0x25 (INVALID_KEY)");
  EXPECT_EQ(describe_snp_exitinfo2(0xFFFFFFFFULL), "firmware error 0xffffffff (NO_FW_CALL)");
  EXPECT_EQ(describe_snp_exitinfo2((std::uint64_t{1} << 32) | 4),
            "firmware error 0x4 (INVALID_LEN), host error 1 (INVALID_LEN)");
  EXPECT_EQ(sev_firmware_error_name(0x99), "unknown");
}

}  // namespace
}  // namespace ccfde::measure
