// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tdx_verify.h"

#include <openssl/asn1.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure {

const std::string_view kIntelSgxRootCaPem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
    "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
    "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
    "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
    "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
    "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
    "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
    "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
    "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
    "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
    "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
    "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
    "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
    "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
    "-----END CERTIFICATE-----\n";

namespace {

using ObjectPtr = CHandle<ASN1_OBJECT, ASN1_OBJECT_free>;

constexpr std::string_view kSgxExtensionOid = "1.2.840.113741.1.13.1";
// DER content bytes of the OID 1.2.840.113741.1.13.1; sub-identifiers below it follow.
constexpr std::array<std::uint8_t, 9> kSgxOidPrefix = {0x2a, 0x86, 0x48, 0x86, 0xf8,
                                                       0x4d, 0x01, 0x0d, 0x01};

constexpr std::uint8_t kDerInteger = 0x02;
constexpr std::uint8_t kDerOctetString = 0x04;
constexpr std::uint8_t kDerObject = 0x06;
constexpr std::uint8_t kDerEnumerated = 0x0a;
constexpr std::uint8_t kDerSequence = 0x30;

Status extension_error(std::string_view what) {
  return make_error(ErrorCode::kCertificateInvalid, "PCK SGX extension ({}): {}", kSgxExtensionOid,
                    what);
}

struct Tlv {
  std::uint8_t tag = 0;
  std::span<const std::uint8_t> content;
};

// Reads one DER TLV from the front of `in` (single-byte tags, definite lengths up to 4 bytes).
Result<Tlv> read_tlv(std::span<const std::uint8_t>& in) {
  if (in.size() < 2) return extension_error("a DER element is truncated");
  Tlv tlv;
  tlv.tag = in[0];
  if ((tlv.tag & 0x1f) == 0x1f) return extension_error("a DER tag uses the multi-byte form");
  std::size_t length = in[1];
  std::size_t header = 2;
  if (length & 0x80) {
    const std::size_t count = length & 0x7f;
    if (count == 0 || count > 4) return extension_error("a DER length has an unsupported form");
    if (in.size() < 2 + count) return extension_error("a DER length is truncated");
    length = 0;
    for (std::size_t i = 0; i < count; ++i) length = (length << 8) | in[2 + i];
    header += count;
  }
  if (length > in.size() - header) {
    return extension_error(
        fmt::format("a DER element declares {} bytes, only {} left", length, in.size() - header));
  }
  tlv.content = in.subspan(header, length);
  in = in.subspan(header + length);
  return tlv;
}

Result<Tlv> read_expected(std::span<const std::uint8_t>& in, std::uint8_t tag,
                          std::string_view what) {
  CCFDE_ASSIGN_OR_RETURN(Tlv tlv, read_tlv(in));
  if (tlv.tag != tag) {
    return extension_error(
        fmt::format("{} has DER tag {:#04x}, expected {:#04x}", what, tlv.tag, tag));
  }
  return tlv;
}

// The sub-identifiers after 1.2.840.113741.1.13.1 (e.g. {2, 17}), or nullopt for other OIDs.
std::optional<std::vector<std::uint8_t>> sgx_suffix(std::span<const std::uint8_t> oid) {
  if (oid.size() <= kSgxOidPrefix.size() ||
      !std::equal(kSgxOidPrefix.begin(), kSgxOidPrefix.end(), oid.begin())) {
    return std::nullopt;
  }
  std::vector<std::uint8_t> suffix(oid.begin() + kSgxOidPrefix.size(), oid.end());
  // Sub-identifiers here are all below 128; a multi-byte one is simply not ours.
  if (std::any_of(suffix.begin(), suffix.end(), [](std::uint8_t b) { return (b & 0x80) != 0; })) {
    return std::nullopt;
  }
  return suffix;
}

Result<unsigned> der_unsigned(const Tlv& tlv, std::uint8_t tag, unsigned maximum,
                              std::string_view what) {
  if (tlv.tag != tag || tlv.content.empty() || tlv.content.size() > 3 ||
      (tlv.content[0] & 0x80) != 0) {
    return extension_error(fmt::format("{} is not a small non-negative integer", what));
  }
  unsigned value = 0;
  for (const std::uint8_t byte : tlv.content) value = (value << 8) | byte;
  if (value > maximum) {
    return extension_error(fmt::format("{} is {}, above the maximum {}", what, value, maximum));
  }
  return value;
}

// One SEQUENCE { OBJECT IDENTIFIER, value } of the extension.
Result<std::pair<std::vector<std::uint8_t>, Tlv>> read_entry(std::span<const std::uint8_t>& in) {
  CCFDE_ASSIGN_OR_RETURN(Tlv entry, read_expected(in, kDerSequence, "an entry"));
  std::span<const std::uint8_t> inner = entry.content;
  CCFDE_ASSIGN_OR_RETURN(Tlv oid, read_expected(inner, kDerObject, "an entry's identifier"));
  CCFDE_ASSIGN_OR_RETURN(Tlv value, read_tlv(inner));
  auto suffix = sgx_suffix(oid.content);
  return std::make_pair(suffix.value_or(std::vector<std::uint8_t>{}), value);
}

Status parse_tcb(std::span<const std::uint8_t> tcb, PckSgxExtensions& out) {
  std::array<bool, 19> seen{};
  while (!tcb.empty()) {
    CCFDE_ASSIGN_OR_RETURN(auto entry, read_entry(tcb));
    const auto& [suffix, value] = entry;
    if (suffix.size() != 2 || suffix[0] != 2 || suffix[1] < 1 || suffix[1] > 18) continue;
    const std::uint8_t index = suffix[1];
    seen[index] = true;
    if (index <= 16) {
      CCFDE_ASSIGN_OR_RETURN(
          unsigned component,
          der_unsigned(value, kDerInteger, 255, fmt::format("TCB component {}", index)));
      out.cpu_svn_components[index - 1U] = static_cast<std::uint8_t>(component);
    } else if (index == 17) {
      CCFDE_ASSIGN_OR_RETURN(unsigned pce_svn, der_unsigned(value, kDerInteger, 0xffff, "PCESVN"));
      out.pce_svn = static_cast<std::uint16_t>(pce_svn);
    } else {
      if (value.tag != kDerOctetString || value.content.size() != out.cpu_svn.size()) {
        return extension_error("CPUSVN is not a 16-byte OCTET STRING");
      }
      std::copy(value.content.begin(), value.content.end(), out.cpu_svn.begin());
    }
  }
  for (std::size_t index = 1; index <= 18; ++index) {
    if (!seen[index]) return extension_error(fmt::format("TCB entry 2.{} is missing", index));
  }
  return Status::ok_status();
}

Status check_certificate_shape(const X509* certificate, std::string_view role,
                               std::initializer_list<std::string_view> expected_names) {
  const std::string name = certificate_common_name(certificate);
  if (std::find(expected_names.begin(), expected_names.end(), name) == expected_names.end()) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "PCK chain {} has common name '{}', expected '{}'", role, name,
                      fmt::join(expected_names, "' or '"));
  }
  if (X509_get_version(certificate) != X509_VERSION_3) {
    return make_error(ErrorCode::kCertificateInvalid, "PCK chain {} '{}' is not X.509 v3", role,
                      name);
  }
  if (X509_get_signature_nid(certificate) != NID_ecdsa_with_SHA256) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "PCK chain {} '{}' is signed with {}, expected ecdsa-with-SHA256", role, name,
                      OBJ_nid2sn(X509_get_signature_nid(certificate)));
  }
  EVP_PKEY* key = X509_get0_pubkey(certificate);
  char group[64] = {};
  std::size_t group_length = 0;
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key, group, sizeof group, &group_length) != 1 ||
      std::string_view(group, group_length) != SN_X9_62_prime256v1) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "PCK chain {} '{}' does not have a P-256 EC public key", role, name);
  }
  return Status::ok_status();
}

// Labels a signature failure with which signature it was; other failures keep their code.
Status labelled(Status status, std::string_view which) {
  if (status.ok()) return status;
  return Status(status.code(), fmt::format("{}: {}", which, status.message()));
}

nlohmann::json hex(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

}  // namespace

Result<X509Ptr> intel_sgx_root_ca() {
  auto certificates = parse_pem_certificates(as_bytes(kIntelSgxRootCaPem));
  if (!certificates.ok() || certificates->size() != 1) {
    return make_error(ErrorCode::kInternal, "the embedded Intel SGX Root CA does not parse");
  }
  X509Ptr root = std::move(certificates->front());
  const std::string fingerprint = hex_encode(certificate_fingerprint(root.get()));
  if (fingerprint != kIntelSgxRootCaDerSha256) {
    return make_error(ErrorCode::kInternal,
                      "the embedded Intel SGX Root CA has DER SHA-256 {}, expected {}", fingerprint,
                      kIntelSgxRootCaDerSha256);
  }
  return root;
}

Result<PckSgxExtensions> pck_sgx_extensions(const X509* pck_certificate) {
  ObjectPtr oid(OBJ_txt2obj(std::string(kSgxExtensionOid).c_str(), /*no_name=*/1));
  if (!oid) return openssl_error(ErrorCode::kCryptoError, "OBJ_txt2obj");
  const int index = X509_get_ext_by_OBJ(pck_certificate, oid.get(), -1);
  if (index < 0) {
    return make_error(ErrorCode::kNotFound, "certificate '{}' has no SGX extension ({})",
                      certificate_common_name(pck_certificate), kSgxExtensionOid);
  }
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(pck_certificate, index));
  std::span<const std::uint8_t> der(ASN1_STRING_get0_data(data),
                                    static_cast<std::size_t>(ASN1_STRING_length(data)));

  CCFDE_ASSIGN_OR_RETURN(Tlv top, read_expected(der, kDerSequence, "the extension"));
  if (!der.empty()) return extension_error("bytes follow the top-level SEQUENCE");
  PckSgxExtensions out;
  bool have_ppid = false, have_tcb = false, have_pce_id = false, have_fmspc = false;
  std::span<const std::uint8_t> entries = top.content;
  while (!entries.empty()) {
    CCFDE_ASSIGN_OR_RETURN(auto entry, read_entry(entries));
    const auto& [suffix, value] = entry;
    if (suffix.size() != 1) continue;
    switch (suffix[0]) {
      case 1:
        if (value.tag != kDerOctetString || value.content.size() != 16) {
          return extension_error("PPID is not a 16-byte OCTET STRING");
        }
        out.ppid.assign(value.content.begin(), value.content.end());
        have_ppid = true;
        break;
      case 2:
        if (value.tag != kDerSequence) return extension_error("TCB is not a SEQUENCE");
        CCFDE_RETURN_IF_ERROR(parse_tcb(value.content, out));
        have_tcb = true;
        break;
      case 3:
        if (value.tag != kDerOctetString || value.content.size() != 2) {
          return extension_error("PCE-ID is not a 2-byte OCTET STRING");
        }
        out.pce_id.assign(value.content.begin(), value.content.end());
        have_pce_id = true;
        break;
      case 4:
        if (value.tag != kDerOctetString || value.content.size() != out.fmspc.size()) {
          return extension_error("FMSPC is not a 6-byte OCTET STRING");
        }
        std::copy(value.content.begin(), value.content.end(), out.fmspc.begin());
        have_fmspc = true;
        break;
      case 5: {
        CCFDE_ASSIGN_OR_RETURN(unsigned sgx_type,
                               der_unsigned(value, kDerEnumerated, 255, "SGX type"));
        out.sgx_type = static_cast<int>(sgx_type);
        break;
      }
      case 6:
        if (value.tag != kDerOctetString || value.content.size() != 16) {
          return extension_error("platform instance ID is not a 16-byte OCTET STRING");
        }
        out.platform_instance_id.assign(value.content.begin(), value.content.end());
        break;
      default: break;
    }
  }
  if (!have_ppid) return extension_error("PPID (.1) is missing");
  if (!have_tcb) return extension_error("TCB (.2) is missing");
  if (!have_pce_id) return extension_error("PCE-ID (.3) is missing");
  if (!have_fmspc) return extension_error("FMSPC (.4) is missing");
  return out;
}

Result<TdxPckChain> tdx_pck_chain(const TdxQuote& quote) {
  CCFDE_ASSIGN_OR_RETURN(auto certificates, parse_pem_certificates(quote.pck_chain_pem));
  if (certificates.size() != 3) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "the PCK certificate chain has {} certificates, expected 3 (PCK leaf, PCK "
                      "CA, root CA)",
                      certificates.size());
  }
  CCFDE_RETURN_IF_ERROR(
      check_certificate_shape(certificates[0].get(), "leaf", {"Intel SGX PCK Certificate"}));
  CCFDE_RETURN_IF_ERROR(
      check_certificate_shape(certificates[1].get(), "intermediate",
                              {"Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"}));
  CCFDE_RETURN_IF_ERROR(
      check_certificate_shape(certificates[2].get(), "root", {"Intel SGX Root CA"}));
  return TdxPckChain{std::move(certificates[0]), std::move(certificates[1]),
                     std::move(certificates[2])};
}

Result<TdxQuoteVerification> verify_tdx_quote(const TdxQuote& quote, const X509* trusted_root,
                                              TimePoint at) {
  if (trusted_root == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "no trusted root certificate given");
  }
  if (quote.header.qe_vendor_id != kIntelQeVendorId) {
    return make_error(ErrorCode::kMalformed,
                      "header.qe_vendor_id at offset 12 is {}, expected the Intel QE {}",
                      hex_encode(quote.header.qe_vendor_id), hex_encode(kIntelQeVendorId));
  }
  CCFDE_ASSIGN_OR_RETURN(TdxPckChain chain, tdx_pck_chain(quote));

  const std::span<const std::uint8_t> attestation_key(quote.attestation_public_key);
  auto key = ec_public_key_from_xy(NID_X9_62_prime256v1, attestation_key.first(32),
                                   attestation_key.last(32));
  if (!key.ok()) return labelled(key.status(), "attestation public key");
  const std::span<const std::uint8_t> quote_signature(quote.quote_signature);
  CCFDE_RETURN_IF_ERROR(
      labelled(verify_ecdsa_signature(key->get(), DigestAlgorithm::kSha256, quote.signed_region,
                                      quote_signature.first(32), quote_signature.last(32)),
               fmt::format("quote signature (attestation key over bytes [{}, {}))",
                           quote.signed_region_offset,
                           quote.signed_region_offset + quote.signed_region_size)));

  const std::span<const std::uint8_t> qe_signature(quote.qe_report_signature);
  CCFDE_RETURN_IF_ERROR(labelled(
      verify_ecdsa_signature(X509_get0_pubkey(chain.leaf.get()), DigestAlgorithm::kSha256,
                             quote.qe_report_raw, qe_signature.first(32), qe_signature.last(32)),
      "QE report signature (PCK leaf key over the QE report)"));

  CCFDE_ASSIGN_OR_RETURN(auto expected_binding,
                         digest(DigestAlgorithm::kSha256, {attestation_key, quote.qe_auth_data}));
  const std::span<const std::uint8_t> report_data(quote.qe_report.report_data);
  if (!std::equal(expected_binding.begin(), expected_binding.end(), report_data.begin())) {
    return make_error(ErrorCode::kMalformed,
                      "QE report binding: REPORTDATA[0:32] is {}, expected SHA-256(attestation "
                      "key || QE auth data) = {}",
                      hex_encode(report_data.first(32)), hex_encode(expected_binding));
  }
  if (std::any_of(report_data.begin() + 32, report_data.end(),
                  [](std::uint8_t b) { return b != 0; })) {
    return make_error(ErrorCode::kMalformed,
                      "QE report binding: REPORTDATA[32:64] is {}, expected 32 zero bytes",
                      hex_encode(report_data.last(32)));
  }

  if (certificate_der(chain.root.get()) != certificate_der(trusted_root)) {
    return make_error(ErrorCode::kUntrustedRoot,
                      "the PCK chain ends at '{}' with DER SHA-256 {}, not at the trusted root "
                      "'{}' with DER SHA-256 {}",
                      certificate_common_name(chain.root.get()),
                      hex_encode(certificate_fingerprint(chain.root.get())),
                      certificate_common_name(trusted_root),
                      hex_encode(certificate_fingerprint(trusted_root)));
  }
  const X509* intermediates[] = {chain.intermediate.get()};
  CCFDE_RETURN_IF_ERROR(
      verify_certificate_chain(chain.leaf.get(), intermediates, trusted_root, at));

  TdxQuoteVerification verification;
  CCFDE_ASSIGN_OR_RETURN(verification.pck, pck_sgx_extensions(chain.leaf.get()));
  verification.pck_issuer = certificate_common_name(chain.intermediate.get());
  verification.root_fingerprint = certificate_fingerprint(trusted_root);
  verification.verified_at = at;
  return verification;
}

Result<TdxQuoteVerification> verify_tdx_quote(const TdxQuote& quote, TimePoint at) {
  CCFDE_ASSIGN_OR_RETURN(X509Ptr root, intel_sgx_root_ca());
  return verify_tdx_quote(quote, root.get(), at);
}

Status check_tdx_debug_policy(const TdxQuoteBody& body) {
  if ((td_attributes_value(body) & kTdAttributeDebug) != 0) {
    return make_error(ErrorCode::kPolicyViolation,
                      "TDATTRIBUTES {} has DEBUG (bit 0) set: the host can read and modify a "
                      "debug TD, so its evidence is not trusted",
                      hex_encode(body.td_attributes));
  }
  return Status::ok_status();
}

Status check_tdx_minimum_tee_tcb_svn(const TdxQuoteBody& body,
                                     const std::array<std::uint8_t, 16>& minimum) {
  for (std::size_t i = 0; i < minimum.size(); ++i) {
    if (body.tee_tcb_svn[i] < minimum[i]) {
      return make_error(ErrorCode::kPolicyViolation,
                        "TEE_TCB_SVN component {} is {}, below the minimum {} (TEE_TCB_SVN {}, "
                        "minimum {})",
                        i, body.tee_tcb_svn[i], minimum[i], hex_encode(body.tee_tcb_svn),
                        hex_encode(minimum));
    }
  }
  return Status::ok_status();
}

nlohmann::json to_json(const PckSgxExtensions& extensions) {
  nlohmann::json json = {
      {"ppid", hex(extensions.ppid)},
      {"cpu_svn_components", hex(extensions.cpu_svn_components)},
      {"pce_svn", extensions.pce_svn},
      {"cpu_svn", hex(extensions.cpu_svn)},
      {"pce_id", hex(extensions.pce_id)},
      {"fmspc", hex(extensions.fmspc)},
  };
  if (extensions.sgx_type) json["sgx_type"] = *extensions.sgx_type;
  if (!extensions.platform_instance_id.empty()) {
    json["platform_instance_id"] = hex(extensions.platform_instance_id);
  }
  return json;
}

nlohmann::json to_json(const TdxQuoteVerification& verification) {
  return {
      {"pck", to_json(verification.pck)},
      {"pck_issuer", escape_nonprintable(verification.pck_issuer)},
      {"root_fingerprint", hex(verification.root_fingerprint)},
      {"verified_at", format_rfc3339(verification.verified_at)},
  };
}

}  // namespace ccfde::measure
