// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tdx_collateral_verify.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/tdx_verify.h"

namespace ccfde::measure {
namespace {

using CrlPtr = CHandle<X509_CRL, X509_CRL_free>;

constexpr std::string_view kTcbSigningName = "Intel SGX TCB Signing";

void free_openssl_string(char* text) {
  OPENSSL_free(text);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PCS sends issuer chains URL-encoded in a header; a file may hold them either way.
Result<std::vector<std::uint8_t>> url_decoded(std::span<const std::uint8_t> text,
                                              std::string_view what) {
  std::vector<std::uint8_t> out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int high = i + 2 < text.size() ? hex_digit(static_cast<char>(text[i + 1])) : -1;
    const int low = i + 2 < text.size() ? hex_digit(static_cast<char>(text[i + 2])) : -1;
    if (high < 0 || low < 0) {
      return make_error(ErrorCode::kMalformed, "{}: bad URL escape at offset {}", what, i);
    }
    out.push_back(static_cast<std::uint8_t>(high << 4 | low));
    i += 2;
  }
  return out;
}

std::string asn1_text(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return "?";
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Result<TimePoint> asn1_time_point(const ASN1_TIME* time, std::string_view what) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return make_error(ErrorCode::kMalformed, "{}: a date does not parse", what);
  }
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

// A CRL in DER, PEM or hex-encoded DER.
Result<CrlPtr> parse_crl(std::span<const std::uint8_t> bytes, std::string_view what) {
  std::vector<std::uint8_t> der(bytes.begin(), bytes.end());
  std::string_view text = as_chars(bytes);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.starts_with("-----BEGIN X509 CRL-----")) {
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    CrlPtr crl(bio ? PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!crl) return openssl_error(ErrorCode::kMalformed, fmt::format("{}: PEM CRL", what));
    return crl;
  }
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return hex_digit(c) >= 0; })) {
    auto decoded = hex_decode(text);
    if (!decoded.ok()) return make_error(ErrorCode::kMalformed, "{}: bad hex", what);
    der = std::move(decoded).value();
  }
  const unsigned char* cursor = der.data();
  CrlPtr crl(d2i_X509_CRL(nullptr, &cursor, static_cast<long>(der.size())));
  if (!crl || cursor != der.data() + der.size()) {
    return make_error(ErrorCode::kMalformed, "{}: not a DER, PEM or hex-encoded CRL", what);
  }
  return crl;
}

// Checks `crl` is issued and signed by `issuer` and current at `at`; returns its nextUpdate.
Result<TimePoint> check_crl(const X509_CRL* crl, const X509* issuer, std::string_view what,
                            TimePoint at) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
    return make_error(ErrorCode::kCertificateInvalid, "{} is issued by another CA than '{}'", what,
                      escape_nonprintable(certificate_common_name(issuer)));
  }
  if (X509_CRL_verify(const_cast<X509_CRL*>(crl), X509_get0_pubkey(issuer)) != 1) {
    drain_openssl_errors();
    return make_error(ErrorCode::kSignatureInvalid,
                      "{} signature does not verify with the key of '{}'", what,
                      escape_nonprintable(certificate_common_name(issuer)));
  }
  const ASN1_TIME* last = X509_CRL_get0_lastUpdate(crl);
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
  if (next == nullptr) {
    return make_error(ErrorCode::kMalformed, "{} has no nextUpdate", what);
  }
  CCFDE_ASSIGN_OR_RETURN(TimePoint this_update, asn1_time_point(last, what));
  CCFDE_ASSIGN_OR_RETURN(TimePoint next_update, asn1_time_point(next, what));
  if (at < this_update || at > next_update) {
    return make_error(ErrorCode::kCollateralExpired,
                      "{} is valid from {} to {}, not at the verification time {}", what,
                      asn1_text(last), asn1_text(next), format_rfc3339(at));
  }
  return next_update;
}

Status check_not_revoked(X509_CRL* crl, const X509* certificate, std::string_view role,
                         std::string_view crl_name) {
  X509_REVOKED* entry = nullptr;
  if (X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(certificate)) == 1) {
    CHandle<BIGNUM, BN_free> serial(
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr));
    CHandle<char, free_openssl_string> serial_hex(serial ? BN_bn2hex(serial.get()) : nullptr);
    return make_error(ErrorCode::kCertificateRevoked,
                      "{} '{}' (serial {}) is revoked by the {} (revoked {})", role,
                      escape_nonprintable(certificate_common_name(certificate)),
                      serial_hex ? serial_hex.get() : "?", crl_name,
                      asn1_text(X509_REVOKED_get0_revocationDate(entry)));
  }
  return Status::ok_status();
}

// Verifies an issuer chain [signer, root] to `trusted_root` at `at` and returns the signer.
Result<X509Ptr> verified_issuer(std::span<const std::uint8_t> chain_bytes, std::string_view what,
                                const X509* trusted_root, TimePoint at) {
  CCFDE_ASSIGN_OR_RETURN(auto pem, url_decoded(chain_bytes, what));
  auto certificates = parse_pem_certificates(pem);
  if (!certificates.ok()) return certificates.status().with_context(what);
  if (certificates->size() != 2) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "{} has {} certificates, expected 2 (signer, root)", what,
                      certificates->size());
  }
  const X509* root = (*certificates)[1].get();
  if (certificate_der(root) != certificate_der(trusted_root)) {
    return make_error(ErrorCode::kUntrustedRoot,
                      "{} ends at '{}' with DER SHA-256 {}, not at the trusted root", what,
                      escape_nonprintable(certificate_common_name(root)),
                      hex_encode(certificate_fingerprint(root)));
  }
  CCFDE_RETURN_IF_ERROR(
      verify_certificate_chain((*certificates)[0].get(), {}, trusted_root, at).with_context(what));
  return std::move((*certificates)[0]);
}

struct SignedDocument {
  std::string body;
  X509Ptr signer;
};

Result<SignedDocument> verified_document(std::span<const std::uint8_t> json,
                                         std::span<const std::uint8_t> chain,
                                         std::string_view member, std::string_view what,
                                         X509_CRL* root_crl, const X509* trusted_root,
                                         TimePoint at) {
  const std::string chain_name = fmt::format("{} issuer chain", what);
  CCFDE_ASSIGN_OR_RETURN(X509Ptr signer, verified_issuer(chain, chain_name, trusted_root, at));
  if (certificate_common_name(signer.get()) != kTcbSigningName) {
    return make_error(ErrorCode::kCertificateInvalid, "{} signer is '{}', expected '{}'", what,
                      escape_nonprintable(certificate_common_name(signer.get())), kTcbSigningName);
  }
  CCFDE_RETURN_IF_ERROR(
      check_not_revoked(root_crl, signer.get(), fmt::format("{} signer", what), "Root CA CRL"));
  CCFDE_ASSIGN_OR_RETURN(auto document, split_signed_document(as_chars(json), member));
  const std::span<const std::uint8_t> signature(document.signature);
  Status verified =
      verify_ecdsa_signature(X509_get0_pubkey(signer.get()), DigestAlgorithm::kSha256,
                             as_bytes(document.body), signature.first(32), signature.last(32));
  if (!verified.ok()) {
    return Status(verified.code(), fmt::format("{} signature (by '{}' over \"{}\"): {}", what,
                                               kTcbSigningName, member, verified.message()));
  }
  return SignedDocument{std::move(document.body), std::move(signer)};
}

Status check_window(TimePoint issue, TimePoint next, std::string_view what, TimePoint at) {
  if (at < issue || at > next) {
    return make_error(ErrorCode::kCollateralExpired,
                      "{} is valid from issueDate {} to nextUpdate {}, not at the verification "
                      "time {}",
                      what, format_rfc3339(issue), format_rfc3339(next), format_rfc3339(at));
  }
  return Status::ok_status();
}

Status collateral_mismatch(std::string_view field, std::string_view quote_value,
                           std::string_view collateral_value) {
  return make_error(ErrorCode::kCollateralMismatch, "{}: the quote has {}, the collateral {}",
                    field, quote_value, collateral_value);
}

template <std::size_t N>
std::array<std::uint8_t, N> masked(const std::array<std::uint8_t, N>& value,
                                   const std::array<std::uint8_t, N>& mask) {
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = value[i] & mask[i];
  return out;
}

bool at_least(const std::array<std::uint8_t, 16>& actual,
              const std::array<std::uint8_t, 16>& required, std::size_t from) {
  for (std::size_t i = from; i < actual.size(); ++i) {
    if (actual[i] < required[i]) return false;
  }
  return true;
}

// Intel's rule for combining the platform status with an out-of-date TDX module or QE.
TcbStatus converge(TcbStatus platform, TcbStatus other) {
  if (other == TcbStatus::kRevoked) return TcbStatus::kRevoked;
  if (other != TcbStatus::kOutOfDate && other != TcbStatus::kOutOfDateConfigurationNeeded) {
    return platform;
  }
  switch (platform) {
    case TcbStatus::kUpToDate:
    case TcbStatus::kSwHardeningNeeded: return TcbStatus::kOutOfDate;
    case TcbStatus::kConfigurationNeeded:
    case TcbStatus::kConfigurationAndSwHardeningNeeded:
      return TcbStatus::kOutOfDateConfigurationNeeded;
    default: return platform;
  }
}

Status check_qe_identity(const QeIdentity& identity, const SgxReportBody& report) {
  if (report.mr_signer != identity.mr_signer) {
    return collateral_mismatch("QE Identity mrsigner", hex_encode(report.mr_signer),
                               hex_encode(identity.mr_signer));
  }
  if (report.isv_prod_id != identity.isv_prod_id) {
    return collateral_mismatch("QE Identity isvprodid", std::to_string(report.isv_prod_id),
                               std::to_string(identity.isv_prod_id));
  }
  if ((report.misc_select & identity.misc_select_mask) != identity.misc_select) {
    return collateral_mismatch(
        "QE Identity miscselect (under miscselectMask)",
        fmt::format("{:08x}", report.misc_select & identity.misc_select_mask),
        fmt::format("{:08x}", identity.misc_select));
  }
  const auto attributes = masked(report.attributes, identity.attributes_mask);
  if (attributes != identity.attributes) {
    return collateral_mismatch("QE Identity attributes (under attributesMask)",
                               hex_encode(attributes), hex_encode(identity.attributes));
  }
  return Status::ok_status();
}

Status check_tdx_module(const std::array<std::uint8_t, 48>& mr_signer,
                        const std::array<std::uint8_t, 8>& attributes,
                        const std::array<std::uint8_t, 8>& mask, const TdxQuoteBody& body,
                        std::string_view where) {
  if (body.mr_signer_seam != mr_signer) {
    return collateral_mismatch(fmt::format("{} mrsigner (MRSIGNERSEAM)", where),
                               hex_encode(body.mr_signer_seam), hex_encode(mr_signer));
  }
  const auto seam = masked(body.seam_attributes, mask);
  if (seam != attributes) {
    return collateral_mismatch(
        fmt::format("{} attributes (SEAMATTRIBUTES under attributesMask)", where), hex_encode(seam),
        hex_encode(attributes));
  }
  return Status::ok_status();
}

}  // namespace

Result<TdxTcbPolicy> parse_tdx_tcb_policy(std::string_view list) {
  TdxTcbPolicy policy;
  policy.accepted.clear();
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    CCFDE_ASSIGN_OR_RETURN(TcbStatus status, parse_tcb_status(name));
    if (status == TcbStatus::kRevoked) {
      return Status(ErrorCode::kInvalidArgument, "the TCB status Revoked cannot be accepted");
    }
    if (std::find(policy.accepted.begin(), policy.accepted.end(), status) ==
        policy.accepted.end()) {
      policy.accepted.push_back(status);
    }
  }
  if (policy.accepted.empty()) {
    return Status(ErrorCode::kInvalidArgument, "the list of accepted TCB statuses is empty");
  }
  return policy;
}

Result<TdxCollateralVerification> verify_tdx_collateral(const TdxQuote& quote,
                                                        const TdxCollateral& collateral,
                                                        const X509* trusted_root, TimePoint at) {
  if (trusted_root == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "no trusted root certificate given");
  }
  CCFDE_ASSIGN_OR_RETURN(TdxPckChain chain, tdx_pck_chain(quote));
  CCFDE_ASSIGN_OR_RETURN(PckSgxExtensions pck, pck_sgx_extensions(chain.leaf.get()));
  TdxCollateralVerification out;
  out.verified_at = at;

  // 1. Root CA CRL.
  CCFDE_ASSIGN_OR_RETURN(CrlPtr root_crl, parse_crl(collateral.root_ca_crl, "Root CA CRL"));
  CCFDE_ASSIGN_OR_RETURN(out.root_ca_crl_next_update,
                         check_crl(root_crl.get(), trusted_root, "Root CA CRL", at));
  CCFDE_RETURN_IF_ERROR(
      check_not_revoked(root_crl.get(), chain.intermediate.get(), "PCK CA", "Root CA CRL"));

  // 2. PCK CRL.
  CCFDE_ASSIGN_OR_RETURN(
      X509Ptr crl_issuer,
      verified_issuer(collateral.pck_crl_issuer_chain, "PCK CRL issuer chain", trusted_root, at));
  if (X509_NAME_cmp(X509_get_subject_name(crl_issuer.get()),
                    X509_get_subject_name(chain.intermediate.get())) != 0 ||
      EVP_PKEY_eq(X509_get0_pubkey(crl_issuer.get()), X509_get0_pubkey(chain.intermediate.get())) !=
          1) {
    return collateral_mismatch(
        "PCK CRL issuer",
        fmt::format("PCK CA '{}'",
                    escape_nonprintable(certificate_common_name(chain.intermediate.get()))),
        fmt::format("'{}' with another subject or key",
                    escape_nonprintable(certificate_common_name(crl_issuer.get()))));
  }
  CCFDE_RETURN_IF_ERROR(
      check_not_revoked(root_crl.get(), crl_issuer.get(), "PCK CRL issuer", "Root CA CRL"));
  CCFDE_ASSIGN_OR_RETURN(CrlPtr pck_crl, parse_crl(collateral.pck_crl, "PCK CRL"));
  CCFDE_ASSIGN_OR_RETURN(out.pck_crl_next_update,
                         check_crl(pck_crl.get(), crl_issuer.get(), "PCK CRL", at));
  CCFDE_RETURN_IF_ERROR(
      check_not_revoked(pck_crl.get(), chain.leaf.get(), "PCK certificate", "PCK CRL"));

  // 3. TCB Info and QE Identity.
  CCFDE_ASSIGN_OR_RETURN(
      SignedDocument tcb_document,
      verified_document(collateral.tcb_info, collateral.tcb_info_issuer_chain, "tcbInfo",
                        "TCB Info", root_crl.get(), trusted_root, at));
  CCFDE_ASSIGN_OR_RETURN(TdxTcbInfo tcb_info, parse_tdx_tcb_info(tcb_document.body));
  CCFDE_RETURN_IF_ERROR(check_window(tcb_info.issue_date, tcb_info.next_update, "TCB Info", at));
  CCFDE_ASSIGN_OR_RETURN(
      SignedDocument qe_document,
      verified_document(collateral.qe_identity, collateral.qe_identity_issuer_chain,
                        "enclaveIdentity", "QE Identity", root_crl.get(), trusted_root, at));
  CCFDE_ASSIGN_OR_RETURN(QeIdentity qe_identity, parse_qe_identity(qe_document.body));
  CCFDE_RETURN_IF_ERROR(
      check_window(qe_identity.issue_date, qe_identity.next_update, "QE Identity", at));
  out.fmspc = tcb_info.fmspc;
  out.tcb_evaluation_data_number = tcb_info.tcb_evaluation_data_number;
  out.tcb_info_next_update = tcb_info.next_update;
  out.qe_identity_next_update = qe_identity.next_update;

  // 4. The platform.
  if (tcb_info.fmspc != pck.fmspc) {
    return collateral_mismatch("TCB Info fmspc (PCK certificate FMSPC)", hex_encode(pck.fmspc),
                               hex_encode(tcb_info.fmspc));
  }
  if (!std::equal(pck.pce_id.begin(), pck.pce_id.end(), tcb_info.pce_id.begin(),
                  tcb_info.pce_id.end())) {
    return collateral_mismatch("TCB Info pceId (PCK certificate PCE-ID)", hex_encode(pck.pce_id),
                               hex_encode(tcb_info.pce_id));
  }
  CCFDE_RETURN_IF_ERROR(
      check_tdx_module(tcb_info.tdx_module_mr_signer, tcb_info.tdx_module_attributes,
                       tcb_info.tdx_module_attributes_mask, quote.body, "TCB Info tdxModule"));

  // 5. The QE.
  CCFDE_RETURN_IF_ERROR(check_qe_identity(qe_identity, quote.qe_report));
  const auto qe_level = std::find_if(
      qe_identity.tcb_levels.begin(), qe_identity.tcb_levels.end(),
      [&](const IsvTcbLevel& level) { return level.isv_svn <= quote.qe_report.isv_svn; });
  if (qe_level == qe_identity.tcb_levels.end()) {
    return make_error(ErrorCode::kCollateralMismatch,
                      "QE Identity tcbLevels: no level has isvsvn <= the QE report's ISVSVN {}",
                      quote.qe_report.isv_svn);
  }
  out.qe_tcb_level = *qe_level;

  // 6. The TCB level.
  const auto& tee_tcb_svn = quote.body.tee_tcb_svn;
  const std::size_t tdx_from = tee_tcb_svn[1] > 0 ? 2 : 0;
  const auto level = std::find_if(
      tcb_info.tcb_levels.begin(), tcb_info.tcb_levels.end(), [&](const TdxTcbLevel& candidate) {
        return at_least(pck.cpu_svn_components, candidate.sgx_tcb_components, 0) &&
               pck.pce_svn >= candidate.pce_svn &&
               at_least(tee_tcb_svn, candidate.tdx_tcb_components, tdx_from);
      });
  if (level == tcb_info.tcb_levels.end()) {
    return make_error(ErrorCode::kCollateralMismatch,
                      "TCB Info tcbLevels: no level is met by CPUSVN components {}, PCESVN {} and "
                      "TEE_TCB_SVN {} (TCB not supported)",
                      hex_encode(pck.cpu_svn_components), pck.pce_svn, hex_encode(tee_tcb_svn));
  }
  out.tcb_level_index = static_cast<std::size_t>(level - tcb_info.tcb_levels.begin());
  out.tcb_level = *level;
  out.platform_tcb_status = level->status;
  out.tcb_status = converge(level->status, out.qe_tcb_level.status);

  if (tee_tcb_svn[1] > 0) {
    const std::string id = fmt::format("TDX_{:02X}", tee_tcb_svn[1]);
    const auto identity = std::find_if(
        tcb_info.tdx_module_identities.begin(), tcb_info.tdx_module_identities.end(),
        [&](const TdxModuleIdentity& candidate) {
          return candidate.id.size() == id.size() &&
                 std::equal(id.begin(), id.end(), candidate.id.begin(), [](char a, char b) {
                   return std::toupper(static_cast<unsigned char>(a)) ==
                          std::toupper(static_cast<unsigned char>(b));
                 });
        });
    if (identity == tcb_info.tdx_module_identities.end()) {
      return make_error(ErrorCode::kCollateralMismatch,
                        "TCB Info tdxModuleIdentities: no identity '{}' for TDX module major "
                        "version {} (TEE_TCB_SVN[1])",
                        id, tee_tcb_svn[1]);
    }
    CCFDE_RETURN_IF_ERROR(check_tdx_module(identity->mr_signer, identity->attributes,
                                           identity->attributes_mask, quote.body,
                                           fmt::format("TCB Info {}", id)));
    const auto module_level = std::find_if(
        identity->tcb_levels.begin(), identity->tcb_levels.end(),
        [&](const IsvTcbLevel& candidate) { return candidate.isv_svn <= tee_tcb_svn[0]; });
    if (module_level == identity->tcb_levels.end()) {
      return make_error(ErrorCode::kCollateralMismatch,
                        "TCB Info {} tcbLevels: no level has isvsvn <= TEE_TCB_SVN[0] {}", id,
                        tee_tcb_svn[0]);
    }
    out.tdx_module_identity = id;
    out.tdx_module_tcb_level = *module_level;
    out.tcb_status = converge(out.tcb_status, module_level->status);
  }
  return out;
}

Status check_tdx_tcb_status(const TdxCollateralVerification& verification,
                            const TdxTcbPolicy& policy) {
  if (std::find(policy.accepted.begin(), policy.accepted.end(), verification.tcb_status) !=
      policy.accepted.end()) {
    return Status::ok_status();
  }
  std::vector<std::string_view> accepted;
  for (TcbStatus status : policy.accepted) accepted.push_back(tcb_status_name(status));
  return make_error(
      ErrorCode::kPolicyViolation,
      "TDX TCB status {} is not accepted (accepted: {}); platform level {} ({}, tcbDate {}, "
      "advisories: {}), QE level {} (isvsvn {}){}",
      tcb_status_name(verification.tcb_status), fmt::join(accepted, ", "),
      verification.tcb_level_index, tcb_status_name(verification.platform_tcb_status),
      escape_nonprintable(verification.tcb_level.tcb_date),
      verification.tcb_level.advisory_ids.empty()
          ? std::string("none")
          : escape_nonprintable(
                fmt::format("{}", fmt::join(verification.tcb_level.advisory_ids, " "))),
      tcb_status_name(verification.qe_tcb_level.status), verification.qe_tcb_level.isv_svn,
      verification.tdx_module_tcb_level
          ? fmt::format(", TDX module {} level {}", *verification.tdx_module_identity,
                        tcb_status_name(verification.tdx_module_tcb_level->status))
          : std::string());
}

nlohmann::json to_json(const TdxCollateralVerification& verification) {
  nlohmann::json json = {
      {"tcb_status", tcb_status_name(verification.tcb_status)},
      {"platform_tcb_status", tcb_status_name(verification.platform_tcb_status)},
      {"tcb_level_index", verification.tcb_level_index},
      {"tcb_level", to_json(verification.tcb_level)},
      {"qe_tcb_level", to_json(verification.qe_tcb_level)},
      {"fmspc", hex_encode(verification.fmspc)},
      {"tcb_evaluation_data_number", verification.tcb_evaluation_data_number},
      {"tcb_info_next_update", format_rfc3339(verification.tcb_info_next_update)},
      {"qe_identity_next_update", format_rfc3339(verification.qe_identity_next_update)},
      {"pck_crl_next_update", format_rfc3339(verification.pck_crl_next_update)},
      {"root_ca_crl_next_update", format_rfc3339(verification.root_ca_crl_next_update)},
      {"revocation", "PCK certificate, PCK CA and TCB signer not revoked"},
      {"verified_at", format_rfc3339(verification.verified_at)},
  };
  if (verification.tdx_module_tcb_level) {
    json["tdx_module_identity"] = *verification.tdx_module_identity;
    json["tdx_module_tcb_level"] = to_json(*verification.tdx_module_tcb_level);
  }
  return json;
}

}  // namespace ccfde::measure
