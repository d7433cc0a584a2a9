// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "ccfde/measure/snp_report_json.h"
#include "snp_vectors.h"

namespace ccfde::measure {
namespace {

using ::testing::HasSubstr;
using namespace snp_test;

TimePoint at(const char* text) {
  return *parse_rfc3339(text);
}
const char* const kPinnedTime = "2026-06-01T00:00:00Z";

X509Ptr certificate(const Bytes& bytes) {
  auto parsed = parse_certificate(bytes);
  EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
  return parsed.ok() ? std::move(*parsed) : nullptr;
}

std::optional<SnpCaCertificates> load_ca(const char* relative) {
  auto pem = testing::load_testdata(relative);
  if (!pem) return std::nullopt;
  auto ca = parse_snp_ca_pem(*pem);
  if (!ca.ok()) return std::nullopt;
  return std::move(*ca);
}

std::optional<Bytes> load_bytes(const char* relative) {
  return testing::load_testdata(relative);
}

// The E2E report re-encoded to bytes.
std::optional<Bytes> load_e2e_report() {
  auto evidence = load_json(kE2eEvidence);
  if (!evidence) return std::nullopt;
  auto report = snp_report_from_trustee_json(evidence->at("attestation_report"));
  if (!report.ok()) return std::nullopt;
  return serialize_snp_report(*report);
}

// One report with its VCEK and the CA chain it must verify to.
struct Vector {
  const char* name;
  Bytes report;
  X509Ptr vcek;
  SnpProduct product;
};

class SnpVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto milan = load_ca(kMilanChain);
    auto genoa = load_ca(kGenoaChain);
    auto vm = load_vm_report();
    auto vm_vcek = load_bytes(kVmVcek);
    auto tr = load_bytes(kTrReport);
    auto tr_vcek = load_bytes(kTrVcek);
    auto az = load_az_report();
    auto az_vcek = load_az_vcek();
    auto e2e = load_e2e_report();
    auto e2e_vcek = load_e2e_vcek();
    if (!milan || !genoa || !vm || !vm_vcek || !tr || !tr_vcek || !az || !az_vcek || !e2e ||
        !e2e_vcek) {
      FAIL() << "SNP test vectors are absent below " << testing::testdata_dir().string();
    }
    milan_ = std::move(*milan);
    genoa_ = std::move(*genoa);
    vectors_.push_back({"VM", std::move(*vm), certificate(*vm_vcek), SnpProduct::kMilan});
    vectors_.push_back({"TR", std::move(*tr), certificate(*tr_vcek), SnpProduct::kMilan});
    vectors_.push_back({"AZ", std::move(*az), certificate(*az_vcek), SnpProduct::kMilan});
    vectors_.push_back({"E2E", std::move(*e2e), certificate(*e2e_vcek), SnpProduct::kGenoa});
  }

  const SnpCaCertificates& ca_for(SnpProduct product) const {
    return product == SnpProduct::kGenoa ? genoa_ : milan_;
  }
  const Vector& vector(std::string_view name) const {
    for (const Vector& v : vectors_) {
      if (name == v.name) return v;
    }
    throw std::logic_error("no such vector");
  }

  SnpCaCertificates milan_;
  SnpCaCertificates genoa_;
  std::vector<Vector> vectors_;
};

TEST_F(SnpVerifyTest, CaFilesSplitIntoAskAndPinnedArk) {
  EXPECT_EQ(certificate_common_name(milan_.ask.get()), "SEV-Milan");
  EXPECT_EQ(certificate_common_name(milan_.ark.get()), "ARK-Milan");
  EXPECT_EQ(hex(certificate_fingerprint(milan_.ask.get())),
            "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b");
  EXPECT_EQ(hex(certificate_fingerprint(milan_.ark.get())),
            "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd");
  EXPECT_EQ(certificate_common_name(genoa_.ask.get()), "SEV-Genoa");
  EXPECT_EQ(hex(certificate_fingerprint(genoa_.ark.get())),
            "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1");
  EXPECT_EQ(hex(*snp_pinned_ark_fingerprint(SnpProduct::kMilan)),
            "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd");
  EXPECT_EQ(hex(*snp_pinned_ark_fingerprint(SnpProduct::kGenoa)),
            "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1");
  EXPECT_EQ(hex(*snp_pinned_ark_fingerprint(SnpProduct::kTurin)),
            "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a");
  EXPECT_FALSE(snp_pinned_ark_fingerprint(SnpProduct::kUnknown).has_value());
}

TEST_F(SnpVerifyTest, ReportSignaturesVerifyWithTheirVceks) {
  for (const Vector& v : vectors_) {
    EXPECT_TRUE(verify_snp_report_signature(v.report, v.vcek.get()).ok()) << v.name;
  }
}

TEST_F(SnpVerifyTest, BitFlipAtByte21BreaksTheSignature) {
  for (const char* name : {"VM", "TR"}) {
    Bytes flipped = vector(name).report;
    flipped[21] ^= 0x80;
    const Status status = verify_snp_report_signature(flipped, vector(name).vcek.get());
    EXPECT_EQ(status.code(), ErrorCode::kSignatureInvalid) << name;
    EXPECT_THAT(status.message(), HasSubstr("SNP report signature")) << name;
  }
}

TEST_F(SnpVerifyTest, SignatureOfAnotherVcekFails) {
  const Status status = verify_snp_report_signature(vector("VM").report, vector("AZ").vcek.get());
  EXPECT_EQ(status.code(), ErrorCode::kSignatureInvalid);
}

TEST_F(SnpVerifyTest, MaskedChipKeyMeansUnsigned) {
  Bytes report = vector("VM").report;
  report[0x48] |= 0x02;
  const Status status = verify_snp_report_signature(report, vector("VM").vcek.get());
  EXPECT_EQ(status.code(), ErrorCode::kSignatureInvalid);
  EXPECT_THAT(status.message(), HasSubstr("not signed"));
}

TEST_F(SnpVerifyTest, RsaCertificateIsNotAVcek) {
  const Status status = verify_snp_report_signature(vector("VM").report, milan_.ask.get());
  EXPECT_EQ(status.code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(status.message(), HasSubstr("P-384"));
}

TEST_F(SnpVerifyTest, ChainsVerifyAtThePinnedTime) {
  for (const Vector& v : vectors_) {
    const SnpCaCertificates& ca = ca_for(v.product);
    const Status status = verify_snp_certificate_chain(v.vcek.get(), ca.ask.get(), ca.ark.get(),
                                                       v.product, at(kPinnedTime));
    EXPECT_TRUE(status.ok()) << v.name << ": " << status.to_string();
  }
}

TEST_F(SnpVerifyTest, ChainsFailOutsideTheValidityWindow) {
  for (const char* time : {"2022-01-01T00:00:00Z", "2034-01-01T00:00:00Z"}) {
    for (const Vector& v : vectors_) {
      const SnpCaCertificates& ca = ca_for(v.product);
      const Status status = verify_snp_certificate_chain(v.vcek.get(), ca.ask.get(), ca.ark.get(),
                                                         v.product, at(time));
      EXPECT_EQ(status.code(), ErrorCode::kCertificateExpired) << v.name << " at " << time;
      auto full =
          verify_snp_attestation(v.report, v.vcek.get(), ca.ask.get(), ca.ark.get(), at(time));
      EXPECT_EQ(full.status().code(), ErrorCode::kCertificateExpired) << v.name << " at " << time;
    }
  }
}

TEST_F(SnpVerifyTest, MilanVcekFailsAgainstTheGenoaAsk) {
  const Status status =
      verify_snp_certificate_chain(vector("VM").vcek.get(), genoa_.ask.get(), genoa_.ark.get(),
                                   SnpProduct::kGenoa, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(status.message(), HasSubstr("VCEK/VLEK by ASK"));
  const Status reverse =
      verify_snp_certificate_chain(vector("E2E").vcek.get(), milan_.ask.get(), milan_.ark.get(),
                                   SnpProduct::kMilan, at(kPinnedTime));
  EXPECT_EQ(reverse.code(), ErrorCode::kUntrustedRoot);
  // The full verification takes the product from the VCEK and pins its ARK.
  auto full = verify_snp_attestation(vector("E2E").report, vector("E2E").vcek.get(),
                                     milan_.ask.get(), milan_.ark.get(), at(kPinnedTime));
  EXPECT_EQ(full.status().code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(full.status().message(), HasSubstr("pinned ARK-Genoa"));
}

TEST_F(SnpVerifyTest, ArkMustBeThePinnedOneForTheProduct) {
  Status status =
      verify_snp_ca(milan_.ask.get(), milan_.ark.get(), SnpProduct::kGenoa, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(status.message(), HasSubstr("69d063b4"));
  status = verify_snp_ca(milan_.ask.get(), milan_.ark.get(), SnpProduct::kTurin, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(status.message(), HasSubstr("expected the pinned ARK-Turin 1f084161"));
  status = verify_snp_ca(milan_.ask.get(), milan_.ark.get(), SnpProduct::kUnknown, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(status.message(), HasSubstr("no ARK fingerprint is pinned for product unknown"));
  // An ASK as "root" is not the pinned ARK either.
  status = verify_snp_ca(milan_.ask.get(), milan_.ask.get(), SnpProduct::kMilan, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  // The Genoa ASK is not signed by the Milan ARK.
  status = verify_snp_ca(genoa_.ask.get(), milan_.ark.get(), SnpProduct::kMilan, at(kPinnedTime));
  EXPECT_FALSE(status.ok());
}

TEST_F(SnpVerifyTest, VlekChainAsvkVerifiesToArkMilan) {
  auto vlek = load_ca(kMilanVlekChain);
  ASSERT_TRUE(vlek.has_value());
  EXPECT_EQ(certificate_common_name(vlek->ask.get()), "SEV-VLEK-Milan");
  EXPECT_EQ(hex(certificate_fingerprint(vlek->ask.get())),
            "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5");
  EXPECT_EQ(certificate_der(vlek->ark.get()), certificate_der(milan_.ark.get()));
  const Status status =
      verify_snp_ca(vlek->ask.get(), vlek->ark.get(), SnpProduct::kMilan, at(kPinnedTime));
  EXPECT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(verify_snp_ca(vlek->ask.get(), vlek->ark.get(), SnpProduct::kMilan,
                          at("2034-01-01T00:00:00Z"))
                .ok(),
            true);  // the ASVK and ARK are valid until 2047 and 2045
}

// docs/reference/TEST-VECTORS.md §7.3: the Turin chain, without a Turin report.
class SnpTurinChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = load_ca(kTurinChain);
    auto vcek = load_bytes(kTurinVcek);
    auto builtin = load_bytes(kTurinBuiltinArk);
    if (!ca || !vcek || !builtin) {
      FAIL() << "Turin test vectors are absent below " << testing::testdata_dir().string();
    }
    ca_ = std::move(*ca);
    vcek_der_ = std::move(*vcek);
    vcek_ = certificate(vcek_der_);
    builtin_ark_ = certificate(*builtin);
  }

  SnpCaCertificates ca_;
  Bytes vcek_der_;
  X509Ptr vcek_;
  X509Ptr builtin_ark_;
};

TEST_F(SnpTurinChainTest, TheBuiltinArkIsThePinnedOneAndTheChainsArk) {
  ASSERT_TRUE(builtin_ark_);
  EXPECT_EQ(certificate_common_name(builtin_ark_.get()), "ARK-Turin");
  EXPECT_EQ(certificate_der(builtin_ark_.get()), certificate_der(ca_.ark.get()));
  const auto pinned = snp_pinned_ark_fingerprint(SnpProduct::kTurin);
  ASSERT_TRUE(pinned.has_value());
  EXPECT_EQ(certificate_fingerprint(builtin_ark_.get()),
            std::vector<std::uint8_t>(pinned->begin(), pinned->end()));
  EXPECT_EQ(certificate_common_name(ca_.ask.get()), "SEV-Turin");
}

TEST_F(SnpTurinChainTest, ArkAskVcekVerifies) {
  const Status status = verify_snp_certificate_chain(vcek_.get(), ca_.ask.get(), ca_.ark.get(),
                                                     SnpProduct::kTurin, at(kPinnedTime));
  EXPECT_TRUE(status.ok()) << status.to_string();
  EXPECT_TRUE(
      verify_snp_ca(ca_.ask.get(), ca_.ark.get(), SnpProduct::kTurin, at(kPinnedTime)).ok());
}

TEST_F(SnpTurinChainTest, VcekExtensionsAreTurins) {
  auto extensions = parse_snp_vcek_extensions(vcek_.get());
  ASSERT_TRUE(extensions.ok()) << extensions.status().to_string();
  EXPECT_EQ(extensions->product_name, "Turin");
  EXPECT_EQ(snp_product_from_name(extensions->product_name), SnpProduct::kTurin);
  EXPECT_EQ(extensions->struct_version, 1);
  EXPECT_EQ(extensions->fmc_spl, 0);
  EXPECT_EQ(extensions->bl_spl, 0);
  EXPECT_EQ(extensions->tee_spl, 0);
  EXPECT_EQ(extensions->snp_spl, 0);
  EXPECT_EQ(extensions->ucode_spl, 9);
  EXPECT_EQ(hex(extensions->hw_id), "1e550a8ee5cf9f4d");
}

TEST_F(SnpTurinChainTest, AnAlteredVcekSignatureFails) {
  Bytes tampered = vcek_der_;
  tampered.back() ^= 0x01;  // the last byte of the ASK's RSASSA-PSS signature
  X509Ptr altered = certificate(tampered);
  ASSERT_TRUE(altered);
  const Status status = verify_snp_certificate_chain(altered.get(), ca_.ask.get(), ca_.ark.get(),
                                                     SnpProduct::kTurin, at(kPinnedTime));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("VCEK/VLEK by ASK"));
}

TEST_F(SnpTurinChainTest, AnAlteredArkIsNotThePinnedOne) {
  Bytes der = certificate_der(ca_.ark.get());
  der.back() ^= 0x01;
  X509Ptr altered = certificate(der);
  ASSERT_TRUE(altered);
  const Status status = verify_snp_certificate_chain(vcek_.get(), ca_.ask.get(), altered.get(),
                                                     SnpProduct::kTurin, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  EXPECT_THAT(status.message(), HasSubstr("expected the pinned ARK-Turin"));
}

TEST_F(SnpTurinChainTest, TheTurinVcekDoesNotChainToMilan) {
  auto milan = load_ca(kMilanChain);
  ASSERT_TRUE(milan.has_value());
  Status status = verify_snp_certificate_chain(vcek_.get(), milan->ask.get(), milan->ark.get(),
                                               SnpProduct::kMilan, at(kPinnedTime));
  EXPECT_FALSE(status.ok());
  // The Turin ASK under the Milan ARK, or the Milan ARK as Turin's: refused either way.
  status = verify_snp_ca(ca_.ask.get(), milan->ark.get(), SnpProduct::kTurin, at(kPinnedTime));
  EXPECT_EQ(status.code(), ErrorCode::kUntrustedRoot);
  status = verify_snp_ca(ca_.ask.get(), milan->ark.get(), SnpProduct::kMilan, at(kPinnedTime));
  EXPECT_FALSE(status.ok());
}

TEST_F(SnpVerifyTest, VcekExtensionsMatchTheReadme) {
  struct Expected {
    const char* name;
    const char* product;
    SnpTcbParts spl;
  };
  const Expected expected[] = {{"VM", "Milan-B0", {std::nullopt, 3, 0, 8, 115}},
                               {"TR", "Milan-B0", {std::nullopt, 3, 0, 8, 115}},
                               {"AZ", "Milan-B0", {std::nullopt, 4, 0, 24, 219}},
                               {"E2E", "Genoa", {std::nullopt, 10, 0, 23, 25}}};
  for (const Expected& e : expected) {
    const Vector& v = vector(e.name);
    auto extensions = parse_snp_vcek_extensions(v.vcek.get());
    ASSERT_TRUE(extensions.ok()) << e.name << ": " << extensions.status().to_string();
    EXPECT_EQ(extensions->product_name, e.product);
    EXPECT_EQ(extensions->struct_version, 0);
    EXPECT_EQ(extensions->bl_spl, e.spl.bootloader) << e.name;
    EXPECT_EQ(extensions->tee_spl, e.spl.tee) << e.name;
    EXPECT_EQ(extensions->snp_spl, e.spl.snp) << e.name;
    EXPECT_EQ(extensions->ucode_spl, e.spl.microcode) << e.name;
    EXPECT_FALSE(extensions->fmc_spl.has_value());
    auto report = parse_snp_report(v.report);
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(extensions->hw_id, Bytes(report->chip_id.begin(), report->chip_id.end())) << e.name;
    EXPECT_EQ(report->reported_tcb.parts, e.spl) << e.name;
    const Status status = check_snp_vcek_extensions(*extensions, *report, v.product);
    EXPECT_TRUE(status.ok()) << e.name << ": " << status.to_string();
    EXPECT_EQ(to_json(*extensions)["ucode_spl"], e.spl.microcode);
  }
  EXPECT_EQ(snp_product_from_name("Milan-B0"), SnpProduct::kMilan);
  EXPECT_EQ(snp_product_from_name("Genoa"), SnpProduct::kGenoa);
  EXPECT_EQ(snp_product_from_name("Turin-B0"), SnpProduct::kTurin);
  EXPECT_EQ(snp_product_from_name("Milano"), SnpProduct::kUnknown);
}

TEST_F(SnpVerifyTest, ExtensionMismatchesAreDetected) {
  const Vector& tr = vector("TR");
  auto extensions = parse_snp_vcek_extensions(tr.vcek.get());
  ASSERT_TRUE(extensions.ok());

  // REPORTED_TCB microcode 115 -> 116 (byte 0x187): the VCEK no longer matches.
  Bytes modified = tr.report;
  modified[0x187] = 116;
  auto report = parse_snp_report(modified);
  ASSERT_TRUE(report.ok());
  Status status = check_snp_vcek_extensions(*extensions, *report, SnpProduct::kMilan);
  EXPECT_EQ(status.code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(status.message(), HasSubstr("ucodeSPL is 115 but REPORTED_TCB has 116"));
  auto full = verify_snp_attestation(modified, tr.vcek.get(), milan_.ask.get(), milan_.ark.get(),
                                     at(kPinnedTime));
  EXPECT_EQ(full.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_EQ(verify_snp_report_signature(modified, tr.vcek.get()).code(),
            ErrorCode::kSignatureInvalid);

  // CURRENT_TCB differs from REPORTED_TCB in TR already; only REPORTED_TCB is compared.
  report = parse_snp_report(tr.report);
  ASSERT_TRUE(report.ok());
  EXPECT_NE(report->current_tcb, report->reported_tcb);
  EXPECT_TRUE(check_snp_vcek_extensions(*extensions, *report, SnpProduct::kMilan).ok());

  // Another chip.
  SnpReport other_chip = *report;
  other_chip.chip_id[63] ^= 1;
  status = check_snp_vcek_extensions(*extensions, other_chip, SnpProduct::kMilan);
  EXPECT_EQ(status.code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(status.message(), HasSubstr("hwID"));

  // Another product.
  status = check_snp_vcek_extensions(*extensions, *report, SnpProduct::kGenoa);
  EXPECT_EQ(status.code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(status.message(), HasSubstr("Milan-B0"));

  // The VM VCEK is for another chip than the TR report.
  auto vm_extensions = parse_snp_vcek_extensions(vector("VM").vcek.get());
  ASSERT_TRUE(vm_extensions.ok());
  status = check_snp_vcek_extensions(*vm_extensions, *report, SnpProduct::kMilan);
  EXPECT_EQ(status.code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(status.message(), HasSubstr("hwID d49554ec"));
}

TEST_F(SnpVerifyTest, ExtensionsOfACaCertificateAreRefused) {
  auto extensions = parse_snp_vcek_extensions(milan_.ask.get());
  EXPECT_EQ(extensions.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(extensions.status().message(), HasSubstr("product-name"));
}

TEST_F(SnpVerifyTest, FullVerificationPassesForEveryVector) {
  for (const Vector& v : vectors_) {
    const SnpCaCertificates& ca = ca_for(v.product);
    auto report =
        verify_snp_attestation(v.report, v.vcek.get(), ca.ask.get(), ca.ark.get(), at(kPinnedTime));
    ASSERT_TRUE(report.ok()) << v.name << ": " << report.status().to_string();
    EXPECT_EQ(serialize_snp_report(*report), v.report);
  }
  Bytes flipped = vector("AZ").report;
  flipped[21] ^= 0x80;
  auto report = verify_snp_attestation(flipped, vector("AZ").vcek.get(), milan_.ask.get(),
                                       milan_.ark.get(), at(kPinnedTime));
  EXPECT_EQ(report.status().code(), ErrorCode::kSignatureInvalid);
}

TEST_F(SnpVerifyTest, CpuidProductMustMatchTheVcekProduct) {
  // The AZ report (CPUID Milan) claimed to be Genoa: the VCEK says Milan-B0.
  Bytes report = vector("AZ").report;
  report[0x189] = 0x11;
  auto result = verify_snp_attestation(report, vector("AZ").vcek.get(), milan_.ask.get(),
                                       milan_.ark.get(), at(kPinnedTime));
  EXPECT_EQ(result.status().code(), ErrorCode::kCertificateInvalid);
  EXPECT_THAT(result.status().message(), HasSubstr("CPUID names Genoa"));
}

TEST_F(SnpVerifyTest, PolicyChecksReportPreciseViolations) {
  auto tr = parse_snp_report(vector("TR").report);
  ASSERT_TRUE(tr.ok());
  EXPECT_TRUE(check_snp_debug_disabled(*tr).ok());
  SnpReport debug = *tr;
  debug.policy.debug = true;
  debug.policy.raw |= 1ULL << 19;
  Status status = check_snp_debug_disabled(debug);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyViolation);
  EXPECT_THAT(status.message(), HasSubstr("POLICY 0xb001f allows debugging"));

  EXPECT_TRUE(check_snp_vmpl(*tr, 0).ok());
  status = check_snp_vmpl(*tr, 1);
  EXPECT_EQ(status.code(), ErrorCode::kPolicyViolation);
  EXPECT_THAT(status.message(), HasSubstr("VMPL is 0, expected 1"));

  EXPECT_TRUE(check_snp_minimum_tcb(*tr, {std::nullopt, 3, 0, 8, 115}).ok());
  EXPECT_TRUE(check_snp_minimum_tcb(*tr, {std::uint8_t{9}, 0, 0, 0, 0}).ok());  // fmc: not Turin
  status = check_snp_minimum_tcb(*tr, {std::nullopt, 3, 0, 8, 116});
  EXPECT_EQ(status.code(), ErrorCode::kPolicyViolation);
  // CURRENT_TCB has microcode 206; COMMITTED_TCB is the first below the minimum.
  EXPECT_THAT(status.message(), HasSubstr("COMMITTED_TCB microcode SVN is 115, below the required "
                                          "minimum 116"));
  status = check_snp_minimum_tcb(*tr, {std::nullopt, 4, 0, 0, 0});
  EXPECT_THAT(status.message(), HasSubstr("CURRENT_TCB bootloader SVN is 3"));
  status = check_snp_minimum_tcb(*tr, {std::nullopt, 0, 0, 9, 0});
  EXPECT_THAT(status.message(), HasSubstr("snp SVN is 8"));
}

}  // namespace
}  // namespace ccfde::measure
