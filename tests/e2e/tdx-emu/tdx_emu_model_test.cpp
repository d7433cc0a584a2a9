// SPDX-License-Identifier: Apache-2.0
// The pure models behind cc-fde-tdx-emu's FUSE mounts: the sysfs measurement registers
// (Linux >= 6.16 semantics), the quotes of configfs-tsm taking the RTMRs as they are now, and the
// SEV-SNP mode's reports and certificate table (provider sev_guest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include "ccfde/measure/pki.h"
#include "ccfde/measure/snp_cert_table.h"
#include "ccfde/measure/snp_report.h"
#include "ccfde/measure/snp_verify.h"
#include "ccfde/measure/tdx_quote.h"
#include "ccfde/testing/test_pki.h"
#include "emulated_platform.h"
#include "snp_platform.h"
#include "tdx_mr_model.h"
#include "tsm_report_model.h"

namespace ccfde::tdx_emu {
namespace {

using measure::TdxRegister;
using measure::TdxRegisterValue;

TdxRegisterValue filled(std::uint8_t byte) {
  TdxRegisterValue value;
  value.fill(byte);
  return value;
}

RtmrValues launch_rtmrs() {
  return {filled(0xa0), filled(0xa1), filled(0xa2), filled(0xa3)};
}

// SHA-384(old || digest) straight from OpenSSL, not through the model's digest helper.
TdxRegisterValue extended(const TdxRegisterValue& old, const std::vector<std::uint8_t>& digest) {
  std::vector<std::uint8_t> input(old.begin(), old.end());
  input.insert(input.end(), digest.begin(), digest.end());
  TdxRegisterValue out{};
  unsigned size = 0;
  EXPECT_EQ(EVP_Digest(input.data(), input.size(), out.data(), &size, EVP_sha384(), nullptr), 1);
  EXPECT_EQ(size, 48U);
  return out;
}

std::vector<std::uint8_t> digest_bytes(std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(48);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(seed + i);
  return bytes;
}

Bytes whole(const TdxRegisterValue& value) {
  return Bytes(value.begin(), value.end());
}

TEST(TdxMrFiles, AreTheKernelsNamesAndModes) {
  std::vector<std::string> names;
  std::vector<bool> writable;
  for (const auto& file : tdx_mr_files()) {
    names.emplace_back(measure::tdx_register_file_name(file.id));
    writable.push_back(file.writable);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"rtmr0:sha384", "rtmr1:sha384", "rtmr2:sha384",
                                             "rtmr3:sha384", "mrtd:sha384", "mrconfigid", "mrowner",
                                             "mrownerconfig"}));
  EXPECT_EQ(writable, (std::vector<bool>{true, true, true, true, false, false, false, false}));
  ASSERT_NE(find_tdx_mr_file("rtmr3:sha384"), nullptr);
  EXPECT_EQ(find_tdx_mr_file("rtmr3:sha384")->id, TdxRegister::kRtmr3);
  EXPECT_EQ(find_tdx_mr_file("rtmr3"), nullptr);
  EXPECT_EQ(find_tdx_mr_file("rtmr4:sha384"), nullptr);
}

TEST(TdxMrModel, ReadsTheLaunchValues) {
  const TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  EXPECT_EQ(model.read(TdxRegister::kMrtd, 0, 4096), whole(filled(0x5d)));
  EXPECT_EQ(model.read(TdxRegister::kMrConfigId, 0, 4096), whole(filled(0xc0)));
  EXPECT_EQ(model.read(TdxRegister::kRtmr2, 0, 4096), whole(filled(0xa2)));
  EXPECT_EQ(model.read(TdxRegister::kMrOwner, 0, 4096), Bytes(48, 0));
  EXPECT_EQ(model.read(TdxRegister::kMrOwnerConfig, 0, 4096), Bytes(48, 0));
  EXPECT_EQ(model.read(TdxRegister::kRtmr3, 40, 4096), Bytes(8, 0xa3));
  EXPECT_EQ(model.read(TdxRegister::kRtmr3, 10, 3), Bytes(3, 0xa3));
  EXPECT_TRUE(model.read(TdxRegister::kRtmr3, 48, 4096).empty());
}

TEST(TdxMrModel, WritingADigestExtends) {
  TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  const auto first = digest_bytes(1);
  const auto second = digest_bytes(7);
  auto written = model.write(TdxRegister::kRtmr3, 0, first);
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_EQ(*written, 48U);
  const TdxRegisterValue once = extended(filled(0xa3), first);
  EXPECT_EQ(model.read(TdxRegister::kRtmr3, 0, 48), whole(once));
  ASSERT_TRUE(model.write(TdxRegister::kRtmr3, 0, second).ok());
  const TdxRegisterValue twice = extended(once, second);
  EXPECT_EQ(model.rtmrs()[3], twice);
  // The other registers are untouched.
  EXPECT_EQ(model.rtmrs()[2], filled(0xa2));
  EXPECT_EQ(model.read(TdxRegister::kMrtd, 0, 48), whole(filled(0x5d)));
}

TEST(TdxMrModel, RefusesPartialWritesWithEinval) {
  TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  const std::vector<std::uint8_t> short_digest(47, 0x01);
  auto written = model.write(TdxRegister::kRtmr3, 0, short_digest);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().sys_errno(), EINVAL);
  EXPECT_EQ(written.status().code(), ErrorCode::kInvalidArgument);
  // 48 bytes at offset 1 are clipped to 47 and refused too.
  written = model.write(TdxRegister::kRtmr3, 1, digest_bytes(1));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().sys_errno(), EINVAL);
  EXPECT_EQ(model.rtmrs(), launch_rtmrs());
}

TEST(TdxMrModel, RefusesWritesAtTheEndWithEfbig) {
  TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  auto written = model.write(TdxRegister::kRtmr3, 48, digest_bytes(1));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().sys_errno(), EFBIG);
  EXPECT_EQ(model.rtmrs(), launch_rtmrs());
}

TEST(TdxMrModel, AnEmptyWriteDoesNothing) {
  TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  auto written = model.write(TdxRegister::kRtmr3, 0, {});
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 0U);
  EXPECT_EQ(model.rtmrs(), launch_rtmrs());
}

// sysfs clips the count to the attribute's size before the driver sees it: the first 48 bytes
// extend and the write comes back short.
TEST(TdxMrModel, ALongerWriteExtendsWithItsFirst48BytesAndComesBackShort) {
  TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  auto long_write = digest_bytes(3);
  long_write.push_back(0xee);
  auto written = model.write(TdxRegister::kRtmr2, 0, long_write);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 48U);
  EXPECT_EQ(model.rtmrs()[2], extended(filled(0xa2), digest_bytes(3)));
}

TEST(TdxMrModel, ReadOnlyRegistersRefuseWritingWithEacces) {
  TdxMrModel model(filled(0x5d), filled(0xc0), launch_rtmrs());
  for (TdxRegister reg : {TdxRegister::kMrtd, TdxRegister::kMrConfigId, TdxRegister::kMrOwner,
                          TdxRegister::kMrOwnerConfig}) {
    EXPECT_EQ(TdxMrModel::check_open(reg, true).sys_errno(), EACCES);
    EXPECT_TRUE(TdxMrModel::check_open(reg, false).ok());
    auto written = model.write(reg, 0, digest_bytes(1));
    ASSERT_FALSE(written.ok());
    EXPECT_EQ(written.status().sys_errno(), EACCES);
  }
  EXPECT_TRUE(TdxMrModel::check_open(TdxRegister::kRtmr3, true).ok());
  EXPECT_EQ(model.read(TdxRegister::kMrtd, 0, 48), whole(filled(0x5d)));
  EXPECT_EQ(model.read(TdxRegister::kMrConfigId, 0, 48), whole(filled(0xc0)));
}

// What serve wires together: a report generated after an extend carries the extended RTMR3.
TEST(TdxEmuModels, AQuoteAfterAnExtendCarriesTheNewRtmrs) {
  TdxMrModel registers(filled(0x5d), filled(0xc0), launch_rtmrs());
  std::vector<RtmrValues> seen;
  TsmReportModel reports(
      kTdxGuestProvider,
      [&](std::span<const std::uint8_t, kInblobSize>, unsigned) -> Result<TsmReport> {
        seen.push_back(registers.rtmrs());
        return TsmReport{Bytes{1, 2, 3}, {}};
      });
  ASSERT_TRUE(reports.make_instance("a").ok());
  auto generate = [&reports] {
    auto inblob = reports.open("a", TsmAttribute::kInblob, false, true);
    ASSERT_TRUE(inblob.ok());
    ASSERT_TRUE(reports.write(*inblob, 0, Bytes(kInblobSize, 0x42)).ok());
    ASSERT_TRUE(reports.flush(*inblob).ok());
    reports.release(*inblob);
    auto outblob = reports.open("a", TsmAttribute::kOutblob, true, false);
    ASSERT_TRUE(outblob.ok());
    ASSERT_TRUE(reports.read(*outblob, 0, 4096).ok());
    reports.release(*outblob);
  };
  generate();
  ASSERT_TRUE(registers.write(TdxRegister::kRtmr3, 0, digest_bytes(9)).ok());
  generate();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0][3], filled(0xa3));
  EXPECT_EQ(seen[1][3], extended(filled(0xa3), digest_bytes(9)));
}

// --- the host's boot through fw_cfg: MRCONFIGID ---

// A fw_cfg directory as qemu_fw_cfg shows the host's files (DIR/NAME/raw), and the platform they
// belong to (its chain and sample boot, written by write_platform).
class FwCfgBootFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tdx-emu-fw-cfg-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto platform = make_platform(kDefaultMrTdSeed);
    ASSERT_TRUE(platform.ok()) << platform.status().to_string();
    ASSERT_TRUE(write_platform(*platform, dir_ / "platform").ok());
    ASSERT_TRUE(write_boot_measurements(*platform, "console=ttyS0", dir_ / "boot").ok());
    for (const char* name : {"ccel-table.bin", "ccel-data.bin", "reference.json", "cmdline"}) {
      std::filesystem::create_directories(fw_cfg() / name);
      std::filesystem::copy_file(dir_ / "boot" / name, fw_cfg() / name / "raw");
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path fw_cfg() const { return dir_ / "by_name/opt/cc-fde/tdx-boot"; }

  // fw_cfg's mrconfigid item holding `bytes`.
  void pass_mr_config_id(std::span<const std::uint8_t> bytes) const {
    std::filesystem::create_directories(fw_cfg() / "mrconfigid");
    std::ofstream(fw_cfg() / "mrconfigid/raw", std::ios::binary | std::ios::trunc)
        << as_chars(bytes);
  }

  Result<FwCfgBoot> read_boot() const {
    CCFDE_ASSIGN_OR_RETURN(EmulatedPlatform platform, read_platform(dir_ / "platform"));
    return read_fw_cfg_boot(std::move(platform), fw_cfg());
  }

  std::filesystem::path dir_;
};

// SHA-384 of `text` straight from OpenSSL: what `openssl dgst -sha384 -binary` writes.
Bytes sha384_of(std::string_view text) {
  Bytes out(48);
  unsigned size = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha384(), nullptr), 1);
  EXPECT_EQ(size, 48U);
  return out;
}

// The quote serve returns for `inblob` on `boot`, parsed by measure's TDX quote parser.
measure::TdxQuote quote_of(const FwCfgBoot& boot, std::uint8_t inblob_seed) {
  std::array<std::uint8_t, 64> report_data{};
  report_data.fill(inblob_seed);
  const Bytes bytes = quote_for(boot.platform, boot.platform.rtmr, report_data);
  auto quote = measure::parse_tdx_quote(bytes);
  EXPECT_TRUE(quote.ok()) << quote.status().to_string();
  EXPECT_EQ(quote->body.report_data, report_data);
  return quote.ok() ? *quote : measure::TdxQuote{};
}

TEST_F(FwCfgBootFiles, TheHostsMrConfigIdIsInTheQuotesAndTheRegisterFile) {
  const Bytes init_data_digest = sha384_of("algorithm = \"sha384\"\nversion = \"0.1.0\"\n");
  pass_mr_config_id(init_data_digest);
  auto boot = read_boot();
  ASSERT_TRUE(boot.ok()) << boot.status().to_string();
  EXPECT_EQ(whole(boot->platform.mr_config_id), init_data_digest);
  EXPECT_EQ(boot->cmdline, "console=ttyS0");

  const measure::TdxQuote quote = quote_of(*boot, 0x42);
  EXPECT_EQ(whole(quote.body.mr_config_id), init_data_digest);
  EXPECT_EQ(quote.body.mr_td, boot->platform.mr_td);
  EXPECT_EQ(quote.body.mr_owner, TdxRegisterValue{});
  EXPECT_EQ(quote.body.mr_owner_config, TdxRegisterValue{});

  // The registers as serve builds them from the same platform.
  const TdxMrModel registers(boot->platform.mr_td, boot->platform.mr_config_id,
                             boot->platform.rtmr);
  EXPECT_EQ(registers.read(TdxRegister::kMrConfigId, 0, 4096), init_data_digest);
  EXPECT_EQ(registers.read(TdxRegister::kMrOwner, 0, 4096), Bytes(48, 0));
  EXPECT_EQ(TdxMrModel::check_open(TdxRegister::kMrConfigId, true).sys_errno(), EACCES);
}

TEST_F(FwCfgBootFiles, WithoutTheFileMrConfigIdIsZero) {
  auto boot = read_boot();
  ASSERT_TRUE(boot.ok()) << boot.status().to_string();
  EXPECT_EQ(boot->platform.mr_config_id, TdxRegisterValue{});
  EXPECT_EQ(quote_of(*boot, 0x01).body.mr_config_id, TdxRegisterValue{});
  const TdxMrModel registers(boot->platform.mr_td, boot->platform.mr_config_id,
                             boot->platform.rtmr);
  EXPECT_EQ(registers.read(TdxRegister::kMrConfigId, 0, 4096), Bytes(48, 0));
}

TEST_F(FwCfgBootFiles, RefusesAnMrConfigIdOfAnotherSizeNamingTheFile) {
  const std::string path = (fw_cfg() / "mrconfigid/raw").string();
  for (const std::size_t size :
       {std::size_t{0}, std::size_t{47}, std::size_t{49}, std::size_t{96}}) {
    pass_mr_config_id(Bytes(size, 0x5a));
    auto boot = read_boot();
    ASSERT_FALSE(boot.ok()) << size;
    EXPECT_EQ(boot.status().code(), ErrorCode::kMalformed) << size;
    EXPECT_THAT(boot.status().message(), ::testing::HasSubstr(path)) << size;
    EXPECT_THAT(boot.status().message(),
                ::testing::EndsWith("the file has " + std::to_string(size)))
        << size;
  }
  // The hex form (`openssl dgst -sha384` without -binary) is refused too.
  const std::string hex = hex_encode(sha384_of("x"));
  pass_mr_config_id(as_bytes(hex));
  EXPECT_THAT(read_boot().status().message(), ::testing::HasSubstr("the file has 96"));
  // Far larger than a digest: still kMalformed, naming the file.
  pass_mr_config_id(Bytes(std::size_t{1} << 17, 0x5a));
  auto boot = read_boot();
  EXPECT_EQ(boot.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(boot.status().message(), ::testing::HasSubstr(path));
}

// An mrconfigid item without its raw file is a broken fw_cfg directory, not an absent MRCONFIGID.
TEST_F(FwCfgBootFiles, RefusesAnMrConfigIdItemWithoutItsRawFile) {
  std::filesystem::create_directories(fw_cfg() / "mrconfigid");
  auto boot = read_boot();
  EXPECT_EQ(boot.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(boot.status().message(), ::testing::HasSubstr("mrconfigid/raw"));
}

// measured_boot_platform (measure-boot's host side) keeps the platform's MRCONFIGID.
TEST(EmulatedPlatform, AMeasuredBootKeepsMrConfigId) {
  auto platform = make_platform(kDefaultMrTdSeed);
  ASSERT_TRUE(platform.ok()) << platform.status().to_string();
  platform->mr_config_id = filled(0x3c);
  auto booted = measured_boot_platform(std::move(*platform), measure::DirectBootPrediction{});
  ASSERT_TRUE(booted.ok()) << booted.status().to_string();
  EXPECT_EQ(booted->mr_config_id, filled(0x3c));
}

// --- SEV-SNP mode ---

// DER INTEGER of a small value, as the SPL extensions carry it.
std::vector<std::uint8_t> der_integer(std::uint8_t value) {
  if (value < 0x80) return {0x02, 0x01, value};
  return {0x02, 0x02, 0x00, value};
}

std::vector<std::uint8_t> der_ia5(std::string_view text) {
  std::vector<std::uint8_t> out(2 + text.size());
  out[0] = 0x16;
  out[1] = static_cast<std::uint8_t>(text.size());
  std::copy(text.begin(), text.end(), out.begin() + 2);
  return out;
}

// A throwaway ARK -> ASK -> VCEK chain like the one tests/e2e/lib/snp.sh makes with openssl: a
// Genoa VCEK with SPLs bl 10, tee 0, snp 23, ucode 84 and a 64-byte hwID.
struct TestSnpChain {
  EvpPkeyPtr ark_key, ask_key;
  X509Ptr ark, ask, vcek;
  SnpPlatform platform;
  Bytes chip_id;
};

TestSnpChain make_chain(std::string_view product = "Genoa") {
  using namespace std::chrono;
  TestSnpChain chain;
  const auto now = time_point_cast<seconds>(system_clock::now());
  const testing::CertificateSpec ark_spec{"ARK-Genoa", now - hours(1), now + hours(48), true};
  const testing::CertificateSpec ask_spec{"SEV-Genoa", now - hours(1), now + hours(48), true};
  chain.ark_key = testing::generate_ec_key(NID_secp384r1);
  chain.ask_key = testing::generate_ec_key(NID_secp384r1);
  chain.ark = testing::issue_certificate(ark_spec, chain.ark_key.get(), nullptr, nullptr);
  chain.ask = testing::issue_certificate(ask_spec, chain.ask_key.get(), chain.ark_key.get(),
                                         chain.ark.get());
  for (std::size_t i = 0; i < 64; ++i) chain.chip_id.push_back(static_cast<std::uint8_t>(0xc0 + i));
  testing::CertificateSpec vcek_spec{"SEV-VCEK", now - hours(1), now + hours(48), false};
  vcek_spec.extra_extensions = {
      {"1.3.6.1.4.1.3704.1.1", der_integer(0)},    {"1.3.6.1.4.1.3704.1.2", der_ia5(product)},
      {"1.3.6.1.4.1.3704.1.3.1", der_integer(10)}, {"1.3.6.1.4.1.3704.1.3.2", der_integer(0)},
      {"1.3.6.1.4.1.3704.1.3.3", der_integer(23)}, {"1.3.6.1.4.1.3704.1.3.8", der_integer(84)},
      {"1.3.6.1.4.1.3704.1.4", chain.chip_id},
  };
  chain.platform.vcek_key = testing::generate_ec_key(NID_secp384r1);
  chain.vcek = testing::issue_certificate(vcek_spec, chain.platform.vcek_key.get(),
                                          chain.ask_key.get(), chain.ask.get());
  chain.platform.vcek_der = measure::certificate_der(chain.vcek.get());
  auto extensions = measure::parse_snp_vcek_extensions(chain.vcek.get());
  EXPECT_TRUE(extensions.ok()) << extensions.status().to_string();
  if (extensions.ok()) chain.platform.vcek_extensions = *extensions;
  chain.platform.measurement.fill(0x4d);
  return chain;
}

measure::SnpArkFingerprint fingerprint_of(const X509* ark) {
  const auto bytes = measure::certificate_fingerprint(ark);
  measure::SnpArkFingerprint out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

std::array<std::uint8_t, kInblobSize> inblob_of(std::uint8_t seed) {
  std::array<std::uint8_t, kInblobSize> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(seed + i);
  return out;
}

const std::array<std::uint8_t, 32> kReportId = {0x11, 0x22, 0x33};

TEST(SnpEmu, TheReportCarriesTheRequestAndTheVceksTcb) {
  const TestSnpChain chain = make_chain();
  const auto inblob = inblob_of(7);
  auto bytes = snp_report_for(chain.platform, kReportId, 0, inblob);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  ASSERT_EQ(bytes->size(), measure::kSnpReportSize);
  auto report = measure::parse_snp_report(*bytes);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->version, 3U);
  EXPECT_EQ(report->vmpl, 0U);
  EXPECT_EQ(report->report_data, inblob);
  EXPECT_EQ(report->measurement, chain.platform.measurement);
  EXPECT_EQ(report->report_id, kReportId);
  EXPECT_FALSE(report->policy.debug);
  EXPECT_FALSE(report->policy.migrate_ma);
  EXPECT_EQ(report->product, measure::SnpProduct::kGenoa);
  const measure::SnpTcbParts expected{std::nullopt, 10, 0, 23, 84};
  EXPECT_EQ(report->reported_tcb.parts, expected);
  EXPECT_EQ(report->current_tcb.parts, expected);
  EXPECT_EQ(Bytes(report->chip_id.begin(), report->chip_id.end()), chain.chip_id);
  EXPECT_EQ(report->signer_info.signing_key, measure::SnpSigningKey::kVcek);
}

TEST(SnpEmu, TheReportVerifiesOnlyAgainstTheTestArkGivenExplicitly) {
  const TestSnpChain chain = make_chain();
  auto bytes = snp_report_for(chain.platform, kReportId, 0, inblob_of(1));
  ASSERT_TRUE(bytes.ok());
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  auto verified =
      measure::verify_snp_attestation(*bytes, chain.vcek.get(), chain.ask.get(), chain.ark.get(),
                                      now, fingerprint_of(chain.ark.get()));
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_TRUE(measure::check_snp_debug_disabled(*verified).ok());
  // Without the explicit test ARK, the throwaway ARK is not AMD's pinned ARK-Genoa.
  auto pinned = measure::verify_snp_attestation(*bytes, chain.vcek.get(), chain.ask.get(),
                                                chain.ark.get(), now);
  EXPECT_EQ(pinned.status().code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(pinned.status().message(), ::testing::HasSubstr("pinned ARK-Genoa"));
  // Another test ARK: refused, naming it.
  measure::SnpArkFingerprint other = fingerprint_of(chain.ark.get());
  other[0] ^= 1;
  auto wrong = measure::verify_snp_attestation(*bytes, chain.vcek.get(), chain.ask.get(),
                                               chain.ark.get(), now, other);
  EXPECT_EQ(wrong.status().code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(wrong.status().message(), ::testing::HasSubstr("TEST ONLY ARK"));
  // A changed REPORT_DATA byte breaks the signature.
  Bytes tampered = *bytes;
  tampered[0x50] ^= 1;
  auto broken =
      measure::verify_snp_attestation(tampered, chain.vcek.get(), chain.ask.get(), chain.ark.get(),
                                      now, fingerprint_of(chain.ark.get()));
  EXPECT_EQ(broken.status().code(), ErrorCode::kSignatureInvalid);
}

TEST(SnpEmu, TheCertificateTableHoldsTheVcek) {
  const TestSnpChain chain = make_chain();
  const Bytes buffer = snp_certificate_table(chain.platform);
  auto table = measure::parse_snp_cert_table(buffer);
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  ASSERT_EQ(table->entries.size(), 1U);
  EXPECT_EQ(table->entries[0].type, measure::SnpCertType::kVcek);
  EXPECT_EQ(table->entries[0].data, chain.platform.vcek_der);
}

// Through the configfs-tsm model as serve wires it: provider sev_guest, privlevel -> VMPL, one
// REPORT_ID for every report of the launch, the certificate table in auxblob.
TEST(SnpEmu, ConfigfsTsmServesReportsAsSevGuest) {
  const TestSnpChain chain = make_chain();
  TsmReportModel reports(
      kSevGuestProvider,
      [&chain](std::span<const std::uint8_t, kInblobSize> inblob,
               unsigned privlevel) -> Result<TsmReport> {
        CCFDE_ASSIGN_OR_RETURN(Bytes report,
                               snp_report_for(chain.platform, kReportId, privlevel, inblob));
        return TsmReport{std::move(report), snp_certificate_table(chain.platform)};
      });
  ASSERT_TRUE(reports.make_instance("r").ok());
  auto read_all = [&reports](TsmAttribute attribute) {
    auto handle = reports.open("r", attribute, true, false);
    EXPECT_TRUE(handle.ok());
    Bytes out;
    if (!handle.ok()) return out;
    auto bytes = reports.read(*handle, 0, std::size_t{64} * 1024);
    EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
    if (bytes.ok()) out = *bytes;
    reports.release(*handle);
    return out;
  };
  auto write = [&reports](TsmAttribute attribute, std::span<const std::uint8_t> bytes) {
    auto handle = reports.open("r", attribute, false, true);
    ASSERT_TRUE(handle.ok());
    auto written = reports.write(*handle, 0, bytes);
    ASSERT_TRUE(written.ok()) << written.status().to_string();
    ASSERT_TRUE(reports.flush(*handle).ok());
    reports.release(*handle);
  };
  EXPECT_EQ(as_chars(read_all(TsmAttribute::kProvider)), "sev_guest\n");
  EXPECT_EQ(as_chars(read_all(TsmAttribute::kPrivlevelFloor)), "0\n");

  const auto first = inblob_of(3);
  write(TsmAttribute::kInblob, first);
  auto report = measure::parse_snp_report(read_all(TsmAttribute::kOutblob));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->report_data, first);
  EXPECT_EQ(report->vmpl, 0U);
  auto table = measure::parse_snp_cert_table(read_all(TsmAttribute::kAuxblob));
  ASSERT_TRUE(table.ok());
  ASSERT_NE(table->find(measure::SnpCertType::kVcek), nullptr);

  write(TsmAttribute::kPrivlevel, as_bytes(std::string_view("2\n")));
  const auto second = inblob_of(9);
  write(TsmAttribute::kInblob, second);
  EXPECT_EQ(as_chars(read_all(TsmAttribute::kGeneration)), "3\n");
  report = measure::parse_snp_report(read_all(TsmAttribute::kOutblob));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->vmpl, 2U);
  EXPECT_EQ(report->report_data, second);
  EXPECT_EQ(report->report_id, kReportId);

  // A short inblob is refused when the report is read, as sev-guest does.
  write(TsmAttribute::kInblob, Bytes(32, 1));
  auto handle = reports.open("r", TsmAttribute::kOutblob, true, false);
  ASSERT_TRUE(handle.ok());
  EXPECT_EQ(reports.read(*handle, 0, 4096).status().sys_errno(), EINVAL);
}

class SnpPlatformFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("snp-emu-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_text(const std::string& name, std::string_view text) const {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  void write_key(const std::string& name, EVP_PKEY* key) const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    write_text(name, std::string_view(data, static_cast<std::size_t>(length)));
  }
  void write_platform(const TestSnpChain& chain) const {
    write_key("vcek-key.pem", chain.platform.vcek_key.get());
    write_text("vcek.der", as_chars(chain.platform.vcek_der));
    write_text("reference.json", "{\"measurement\": \"" + std::string(96, 'a') + "\"}\n");
  }

  std::filesystem::path dir_;
};

TEST_F(SnpPlatformFiles, ReadsWhatTheHarnessWrites) {
  const TestSnpChain chain = make_chain();
  write_platform(chain);
  auto platform = read_snp_platform(dir_);
  ASSERT_TRUE(platform.ok()) << platform.status().to_string();
  EXPECT_EQ(platform->vcek_der, chain.platform.vcek_der);
  EXPECT_EQ(platform->measurement,
            (std::array<std::uint8_t, 48>{
                0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
                0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
                0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
                0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}));
  EXPECT_EQ(platform->vcek_extensions.product_name, "Genoa");
  auto report = snp_report_for(*platform, kReportId, 1, inblob_of(0));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(measure::verify_snp_report_signature(*report, chain.vcek.get()).ok());
}

TEST_F(SnpPlatformFiles, RefusesAKeyThatIsNotTheVceks) {
  const TestSnpChain chain = make_chain();
  write_platform(chain);
  const EvpPkeyPtr other = testing::generate_ec_key(NID_secp384r1);
  write_key("vcek-key.pem", other.get());
  auto platform = read_snp_platform(dir_);
  EXPECT_EQ(platform.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(platform.status().message(), ::testing::HasSubstr("is not the key of"));
}

TEST_F(SnpPlatformFiles, RefusesAMissingFileOrAShortMeasurement) {
  const TestSnpChain chain = make_chain();
  write_platform(chain);
  write_text("reference.json", "{\"measurement\": \"00\"}");
  EXPECT_EQ(read_snp_platform(dir_).status().code(), ErrorCode::kMalformed);
  std::filesystem::remove(dir_ / "reference.json");
  EXPECT_EQ(read_snp_platform(dir_).status().code(), ErrorCode::kNotFound);
}

TEST_F(SnpPlatformFiles, RefusesAVcekOfNoKnownProduct) {
  const TestSnpChain chain = make_chain("Athlon");
  write_platform(chain);
  auto platform = read_snp_platform(dir_);
  EXPECT_EQ(platform.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(platform.status().message(), ::testing::HasSubstr("no known SNP product"));
}

}  // namespace
}  // namespace ccfde::tdx_emu
