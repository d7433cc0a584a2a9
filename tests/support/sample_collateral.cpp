// SPDX-License-Identifier: Apache-2.0
#include "ccfde/testing/sample_collateral.h"

#include <openssl/x509.h>

#include <cstdlib>
#include <ctime>
#include <iostream>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/testing/test_pki.h"

namespace ccfde::testing {
namespace {

using Bytes = std::vector<std::uint8_t>;
using CrlPtr = CHandle<X509_CRL, X509_CRL_free>;

[[noreturn]] void die(const char* what) {
  std::cerr << "sample collateral: " << what << ": " << drain_openssl_errors() << "\n";
  std::abort();
}

std::string iso(std::chrono::sys_seconds time) {
  const std::time_t seconds = time.time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string components(const Bytes& svns) {
  std::string out = "[";
  for (std::size_t i = 0; i < svns.size(); ++i) {
    out += fmt::format("{}{{\"svn\":{}}}", i == 0 ? "" : ",", svns[i]);
  }
  return out + "]";
}

std::string tcb_level(std::uint16_t pce_svn, std::string_view status) {
  const Bytes sgx{3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
  const Bytes tdx{3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  return fmt::format(
      R"({{"tcb":{{"sgxtcbcomponents":{},"pcesvn":{},"tdxtcbcomponents":{}}},"tcbDate":"2025-11-12T00:00:00Z","tcbStatus":"{}"{}}})",
      components(sgx), pce_svn, components(tdx), status,
      status == "UpToDate" ? "" : R"(,"advisoryIDs":["INTEL-SA-00000"])");
}

std::string module_identities() {
  return fmt::format(
      R"("tdxModuleIdentities":[{{"id":"TDX_01","mrsigner":"{}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[{{"tcb":{{"isvsvn":6}},"tcbDate":"2025-11-12T00:00:00Z","tcbStatus":"UpToDate"}},{{"tcb":{{"isvsvn":2}},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-00001"]}}]}}],)",
      std::string(96, '0'));
}

Bytes crl_der(EVP_PKEY* key, const X509* issuer, const std::vector<const X509*>& revoked,
              const SampleCollateralSpec& spec) {
  CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) != 1) {
    die("X509_CRL_new");
  }
  CHandle<ASN1_TIME, ASN1_TIME_free> last(
      ASN1_TIME_set(nullptr, spec.issued.time_since_epoch().count()));
  CHandle<ASN1_TIME, ASN1_TIME_free> next(
      ASN1_TIME_set(nullptr, spec.next_update.time_since_epoch().count()));
  if (!last || !next || X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    die("CRL dates");
  }
  for (const X509* certificate : revoked) {
    X509_REVOKED* entry = X509_REVOKED_new();
    if (entry == nullptr ||
        X509_REVOKED_set_serialNumber(
            entry, const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(certificate))) != 1 ||
        X509_REVOKED_set_revocationDate(entry, last.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry) != 1) {
      die("CRL entry");
    }
  }
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), key, EVP_sha256()) <= 0) {
    die("X509_CRL_sign");
  }
  unsigned char* der = nullptr;
  const int length = i2d_X509_CRL(crl.get(), &der);
  if (length <= 0) die("i2d_X509_CRL");
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

}  // namespace

std::string sign_collateral_document(EVP_PKEY* key, std::string_view member,
                                     std::string_view body) {
  const Bytes signature = sign_ecdsa_raw(key, Bytes(body.begin(), body.end()), 32, EVP_sha256());
  return fmt::format(R"({{"{}":{},"signature":"{}"}})", member, body, hex_encode(signature));
}

SampleCollateral build_sample_collateral(const SamplePckChain& chain,
                                         const SampleCollateralSpec& spec) {
  SampleCollateral out;
  out.tcb_signing_key = generate_ec_key();
  const X509Ptr signer = issue_certificate(
      {"Intel SGX TCB Signing", std::chrono::sys_days{std::chrono::year{2020} / 1 / 1},
       std::chrono::sys_days{std::chrono::year{2040} / 1 / 1}, false},
      out.tcb_signing_key.get(), chain.root_key.get(), chain.root.get());
  const std::string root_pem = certificate_pem(chain.root.get());
  out.tcb_info_issuer_chain = certificate_pem(signer.get()) + root_pem;
  out.qe_identity_issuer_chain = out.tcb_info_issuer_chain;
  out.pck_crl_issuer_chain = certificate_pem(chain.platform.get()) + root_pem;

  std::string levels = tcb_level(11, spec.platform_status);
  if (spec.newer_level_first) levels = tcb_level(12, "UpToDate") + "," + levels;
  const std::string tcb_info = fmt::format(
      R"({{"id":"TDX","version":3,"issueDate":"{}","nextUpdate":"{}","fmspc":"{}","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tdxModule":{{"mrsigner":"{}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},{}"tcbLevels":[{}]}})",
      iso(spec.issued), iso(spec.next_update), hex_encode(spec.fmspc), std::string(96, '0'),
      spec.tdx_module_identities ? module_identities() : std::string(), levels);
  out.tcb_info = sign_collateral_document(out.tcb_signing_key.get(), "tcbInfo", tcb_info);

  std::array<std::uint8_t, 32> mr_signer = spec.qe_mr_signer;
  if (mr_signer == std::array<std::uint8_t, 32>{}) mr_signer.fill(0x44);
  const std::string qe_identity = fmt::format(
      R"({{"id":"TD_QE","version":2,"issueDate":"{}","nextUpdate":"{}","tcbEvaluationDataNumber":17,"miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"{}","isvprodid":2,"tcbLevels":[{{"tcb":{{"isvsvn":4}},"tcbDate":"2025-11-12T00:00:00Z","tcbStatus":"{}"}}]}})",
      iso(spec.issued), iso(spec.next_update), hex_encode(mr_signer), spec.qe_status);
  out.qe_identity =
      sign_collateral_document(out.tcb_signing_key.get(), "enclaveIdentity", qe_identity);

  std::vector<const X509*> revoked_pcks;
  if (spec.revoke_pck) revoked_pcks.push_back(chain.pck.get());
  out.pck_crl = crl_der(chain.platform_key.get(), chain.platform.get(), revoked_pcks, spec);
  std::vector<const X509*> revoked_cas;
  if (spec.revoke_pck_ca) revoked_cas.push_back(chain.platform.get());
  out.root_ca_crl = crl_der(chain.root_key.get(), chain.root.get(), revoked_cas, spec);
  return out;
}

Status write_sample_collateral(const SampleCollateral& collateral,
                               const std::filesystem::path& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return make_error(ErrorCode::kIoError, "cannot create {}: {}", directory.string(),
                      error.message());
  }
  const std::pair<const char*, std::span<const std::uint8_t>> files[] = {
      {"tcb_info.json", as_bytes(collateral.tcb_info)},
      {"tcb_info_issuer_chain.pem", as_bytes(collateral.tcb_info_issuer_chain)},
      {"qe_identity.json", as_bytes(collateral.qe_identity)},
      {"qe_identity_issuer_chain.pem", as_bytes(collateral.qe_identity_issuer_chain)},
      {"pck_crl.der", collateral.pck_crl},
      {"pck_crl_issuer_chain.pem", as_bytes(collateral.pck_crl_issuer_chain)},
      {"root_ca_crl.der", collateral.root_ca_crl},
  };
  for (const auto& [name, bytes] : files) {
    CCFDE_RETURN_IF_ERROR(write_file(directory / name, bytes));
  }
  return Status::ok_status();
}

}  // namespace ccfde::testing
