// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/platform.h"

#include <gtest/gtest.h>

#include "ccfde/testing/testdata.h"
#include "fakes.h"

namespace ccfde::measure {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

void touch(const fs::path& path, std::string_view content = {}) {
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(write_file(path, as_bytes(content)).ok());
}

const InterfaceProbe& find_probe(const PlatformInfo& info, std::string_view name) {
  for (const auto& probe : info.interfaces) {
    if (probe.name == name) return probe;
  }
  ADD_FAILURE() << "no probe " << name;
  return info.interfaces.front();
}

constexpr std::string_view kTdxCpuinfo =
    "processor\t: 0\nvendor_id\t: GenuineIntel\n"
    "flags\t\t: fpu vme de pse tsc msr hypervisor tdx_guest avx512f\n\n"
    "processor\t: 1\nflags\t\t: fpu hypervisor tdx_guest\n";

TEST(PlatformPaths, DefaultsAreTheRealLocations) {
  const PlatformPaths paths;
  EXPECT_EQ(paths.tsm_report, "/sys/kernel/config/tsm/report");
  EXPECT_EQ(paths.tdx_guest_device, "/dev/tdx_guest");
  EXPECT_EQ(paths.sev_guest_device, "/dev/sev-guest");
  EXPECT_EQ(paths.tdx_measurements, "/sys/devices/virtual/misc/tdx_guest/measurements");
  EXPECT_EQ(paths.ccel_table, "/sys/firmware/acpi/tables/CCEL");
  EXPECT_EQ(paths.ccel_data, "/sys/firmware/acpi/tables/data/CCEL");
  EXPECT_EQ(paths.tpm2_event_log, "/sys/kernel/security/tpm0/binary_bios_measurements");
  EXPECT_EQ(paths.ima_ascii_list, "/sys/kernel/security/ima/ascii_runtime_measurements");
  EXPECT_EQ(paths.ima_binary_list, "/sys/kernel/security/ima/binary_runtime_measurements");
  const PlatformPaths rooted = PlatformPaths::rooted_at("/tmp/guest");
  EXPECT_EQ(rooted.tdx_guest_device, "/tmp/guest/dev/tdx_guest");
  EXPECT_EQ(rooted.cpuinfo, "/tmp/guest/proc/cpuinfo");
}

TEST(DetectPlatform, EmptyTreeIsNoTee) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  const PlatformInfo info = detect_platform(paths);
  EXPECT_EQ(info.tee, TeeKind::kNone);
  EXPECT_EQ(info.interfaces.size(), 10u);
  for (const auto& probe : info.interfaces) EXPECT_FALSE(probe.present) << probe.name;
  EXPECT_TRUE(contains(info.reason, paths.tdx_guest_device.string()));
  EXPECT_FALSE(find_probe(info, "cpuinfo").error.empty());
}

TEST(DetectPlatform, TdxGuestFromDeviceAndCpuFlag) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  touch(paths.tdx_guest_device);
  touch(paths.cpuinfo, kTdxCpuinfo);
  fs::create_directories(paths.tsm_report);
  touch(paths.ccel_table, "CCEL");
  const PlatformInfo info = detect_platform(paths);
  EXPECT_EQ(info.tee, TeeKind::kTdx);
  EXPECT_EQ(info.cpu_flags, (std::vector<std::string>{"hypervisor", "tdx_guest"}));
  EXPECT_TRUE(find_probe(info, "tdx_guest_device").present);
  EXPECT_TRUE(find_probe(info, "configfs_tsm_report").present);
  EXPECT_TRUE(find_probe(info, "ccel_table").present);
  EXPECT_FALSE(find_probe(info, "ccel_data").present);
  EXPECT_TRUE(contains(info.reason, "cpu flag tdx_guest"));

  const nlohmann::json json = to_json(info);
  EXPECT_EQ(json["tee"], "tdx");
  EXPECT_EQ(json["cpu_flags"], nlohmann::json({"hypervisor", "tdx_guest"}));
  EXPECT_EQ(json["interfaces"][1]["name"], "tdx_guest_device");
  EXPECT_EQ(json["interfaces"][1]["path"], paths.tdx_guest_device.string());
  EXPECT_EQ(json["interfaces"][1]["present"], true);
  EXPECT_FALSE(json["interfaces"][1].contains("error"));
}

TEST(DetectPlatform, SnpNeedsTheGuestSide) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  // An SNP host also lists sev_snp; without "hypervisor" it is not a guest.
  touch(paths.cpuinfo, "flags\t: fpu sev sev_es sev_snp\n");
  EXPECT_EQ(detect_platform(paths).tee, TeeKind::kNone);
  touch(paths.cpuinfo, "flags\t: fpu sev sev_es sev_snp hypervisor\n");
  EXPECT_EQ(detect_platform(paths).tee, TeeKind::kSnp);
  touch(paths.cpuinfo, "flags\t: fpu\n");
  touch(paths.sev_guest_device);
  EXPECT_EQ(detect_platform(paths).tee, TeeKind::kSnp);
}

TEST(DetectPlatform, ConflictingSignsAreNoTee) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  touch(paths.sev_guest_device);
  touch(paths.tdx_guest_device);
  const PlatformInfo info = detect_platform(paths);
  EXPECT_EQ(info.tee, TeeKind::kNone);
  EXPECT_TRUE(contains(info.reason, "conflicting"));
}

TEST(OpenEvidenceSource, NothingFoundIsUnsupportedAndSaysWhatWasLookedFor) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  auto source = open_evidence_source(paths);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), ErrorCode::kUnsupported);
  const std::string message = source.status().message();
  EXPECT_TRUE(contains(message, paths.tsm_report.string())) << message;
  EXPECT_TRUE(contains(message, paths.tdx_guest_device.string())) << message;
  EXPECT_TRUE(contains(message, paths.sev_guest_device.string())) << message;
  EXPECT_TRUE(contains(message, "sample")) << message;
}

TEST(OpenEvidenceSource, AutoPrefersConfigfsTsm) {
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/cos-113-tdx-quote.dat");
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  fs::create_directories(paths.tsm_report);
  touch(paths.tdx_guest_device);
  auto kernel = std::make_shared<fakes::TsmKernelState>();
  kernel->outblob = quote;
  PlatformSeams seams;
  seams.tsm_file_ops = [kernel] { return std::make_unique<fakes::FakeTsmKernel>(kernel); };
  seams.open_device = [](const fs::path&) -> Result<std::unique_ptr<IoctlDevice>> {
    ADD_FAILURE() << "a device was opened although configfs-tsm works";
    return make_error(ErrorCode::kInternal, "unexpected");
  };
  auto source = open_evidence_source(paths, {}, seams);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  EXPECT_TRUE(contains((*source)->name(), "configfs-tsm")) << (*source)->name();
  auto evidence = (*source)->get_evidence(ReportData{});
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->primary, quote);
  EXPECT_TRUE(fs::is_empty(paths.tsm_report));
}

TEST(OpenEvidenceSource, AutoFallsBackToSevGuestWhenConfigfsHasNoProvider) {
  CCFDE_LOAD_TESTDATA(report, "trustee/deps/verifier/test_data/snp/test-report.bin");
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  fs::create_directories(paths.tsm_report);  // a plain directory: instances have no provider
  touch(paths.sev_guest_device);
  auto device = std::make_shared<fakes::SevDeviceState>();
  device->report = report;
  PlatformSeams seams;
  fs::path opened;
  seams.open_device = [&](const fs::path& path) -> Result<std::unique_ptr<IoctlDevice>> {
    opened = path;
    return std::unique_ptr<IoctlDevice>(std::make_unique<fakes::FakeSevDevice>(device));
  };
  auto source = open_evidence_source(paths, {}, seams);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  EXPECT_EQ(opened, paths.sev_guest_device);
  EXPECT_TRUE(contains((*source)->name(), "sev-guest")) << (*source)->name();
  auto evidence = (*source)->get_evidence(ReportData{});
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->tee, TeeKind::kSnp);
  EXPECT_EQ(evidence->primary, report);
  EXPECT_TRUE(fs::is_empty(paths.tsm_report));
}

TEST(OpenEvidenceSource, AutoUsesTdxGuestWithTheQgs) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  touch(paths.tdx_guest_device);
  PlatformSeams seams;
  seams.open_device = [](const fs::path&) -> Result<std::unique_ptr<IoctlDevice>> {
    return std::unique_ptr<IoctlDevice>(
        std::make_unique<fakes::FakeTdxDevice>(std::make_shared<fakes::TdxDeviceState>()));
  };
  std::uint32_t cid = 0;
  std::uint32_t port = 0;
  seams.qgs_connector = [&](std::uint32_t c, std::uint32_t p) -> std::unique_ptr<StreamConnector> {
    cid = c;
    port = p;
    return std::make_unique<fakes::FakeQgsConnector>(std::make_shared<fakes::QgsPeerState>());
  };
  auto source = open_evidence_source(paths, {}, seams);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  EXPECT_TRUE(contains((*source)->name(), "tdx_guest")) << (*source)->name();
  EXPECT_EQ(cid, 2u);
  EXPECT_EQ(port, 4050u);
}

TEST(OpenEvidenceSource, ExplicitPreferences) {
  testing::TempDir dir;
  const auto paths = PlatformPaths::rooted_at(dir.path());
  EvidenceSourceOptions options;
  options.preference = EvidenceSourceKind::kConfigfsTsm;
  EXPECT_EQ(open_evidence_source(paths, options).status().code(), ErrorCode::kNotFound);
  options.preference = EvidenceSourceKind::kTdxGuestDevice;
  auto tdx = open_evidence_source(paths, options);
  EXPECT_EQ(tdx.status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(contains(tdx.status().message(), paths.tdx_guest_device.string()));
  options.preference = EvidenceSourceKind::kSevGuestDevice;
  EXPECT_EQ(open_evidence_source(paths, options).status().code(), ErrorCode::kNotFound);
  options.preference = EvidenceSourceKind::kSample;
  auto sample = open_evidence_source(paths, options);
  ASSERT_TRUE(sample.ok());
  EXPECT_TRUE(contains((*sample)->name(), "DEVELOPMENT ONLY"));
  options.sample_digest_size = 65;
  EXPECT_EQ(open_evidence_source(paths, options).status().code(), ErrorCode::kInvalidArgument);
}

TEST(TeeKindName, EveryNameParsesBackToItsKind) {
  for (TeeKind kind : {TeeKind::kNone, TeeKind::kTdx, TeeKind::kSnp, TeeKind::kSample}) {
    const std::string_view name = tee_kind_name(kind);
    EXPECT_EQ(parse_tee_kind(name), kind) << name;
  }
  EXPECT_EQ(parse_tee_kind("tdx"), TeeKind::kTdx);
  EXPECT_EQ(parse_tee_kind("snp"), TeeKind::kSnp);
  EXPECT_EQ(parse_tee_kind("sample"), TeeKind::kSample);
  EXPECT_EQ(parse_tee_kind("none"), TeeKind::kNone);
}

TEST(TeeKindName, UnknownEmptyAndCaseVariantNamesAreRejected) {
  for (std::string_view name : std::initializer_list<std::string_view>{
           "", "auto", "sgx", "unknown", "TDX", "Snp", "SAMPLE", "None", " tdx", "tdx ", "tdx\n",
           "td", "tdxx", std::string_view("tdx\0", 4)}) {
    EXPECT_EQ(parse_tee_kind(name), std::nullopt) << '"' << name << '"';
    EXPECT_EQ(parse_attesting_tee(name), std::nullopt) << '"' << name << '"';
  }
}

TEST(TeeKindName, AnAttestingTeeIsNeverNone) {
  EXPECT_EQ(parse_attesting_tee("tdx"), TeeKind::kTdx);
  EXPECT_EQ(parse_attesting_tee("snp"), TeeKind::kSnp);
  EXPECT_EQ(parse_attesting_tee("sample"), TeeKind::kSample);
  EXPECT_EQ(parse_attesting_tee("none"), std::nullopt);
}

TEST(SampleEvidenceSource, MatchesTheKbsWorkedExample) {
  const Bytes digest = *hex_decode(
      "d504bd210d8191592f6585a7ac2a51a155608949de9ab6f1a50fc9254e52bd81a15f9c95227ce6685ef018cf7c"
      "bf636f");
  ReportData report_data{};
  std::copy(digest.begin(), digest.end(), report_data.begin());
  SampleEvidenceSource source;
  auto evidence = source.get_evidence(report_data);
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->tee, TeeKind::kSample);
  EXPECT_EQ(
      as_chars(evidence->primary),
      R"({"svn":"1","report_data":"1QS9IQ2BkVkvZYWnrCpRoVVgiUnemrbxpQ/JJU5SvYGhX5yVInzmaF7wGM98v2Nv"})");
  EXPECT_TRUE(evidence->auxiliary.empty());
  EXPECT_EQ(tee_kind_name(evidence->tee), "sample");
  const nlohmann::json json = to_json(*evidence);
  EXPECT_EQ(json["tee"], "sample");
  EXPECT_EQ(json["primary_size"], evidence->primary.size());
}

TEST(SampleEvidenceSource, RefusesToCutALongerDigest) {
  ReportData report_data{};
  report_data[50] = 1;
  auto evidence = SampleEvidenceSource().get_evidence(report_data);
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(evidence.status().message(), "byte 50"));
  EXPECT_TRUE(SampleEvidenceSource(64).get_evidence(report_data).ok());
}

}  // namespace
}  // namespace ccfde::measure
