// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tdx_quote.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure {
namespace {

// A nested structure that runs out of bytes inside an input that is long enough is inconsistent,
// not truncated: its enclosing length field is wrong.
Status nested(Status status, std::string_view container) {
  if (status.ok()) return status;
  if (status.code() == ErrorCode::kTruncated) {
    return Status(ErrorCode::kMalformed, fmt::format("{}: {}", container, status.message()));
  }
  return status;
}

template <typename T>
Result<T> nested(Result<T> result, std::string_view container) {
  if (result.ok()) return result;
  return nested(result.status(), container);
}

#define CCFDE_NESTED_ASSIGN(lhs, expr, container) \
  CCFDE_ASSIGN_OR_RETURN(lhs, nested((expr), (container)))

Status parse_header(ByteReader& reader, TdxQuoteHeader& header) {
  CCFDE_ASSIGN_OR_RETURN(header.version, reader.u16le("header.version"));
  if (header.version != kTdxQuoteVersion4 && header.version != kTdxQuoteVersion5) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "header.version at offset 0 is {}, expected 4 or 5", header.version);
  }
  CCFDE_ASSIGN_OR_RETURN(header.attestation_key_type, reader.u16le("header.attestation_key_type"));
  if (header.attestation_key_type != kTdxAttestationKeyEcdsaP256) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "header.attestation_key_type at offset 2 is {}, expected 2 (ECDSA P-256)",
                      header.attestation_key_type);
  }
  CCFDE_ASSIGN_OR_RETURN(header.tee_type, reader.u32le("header.tee_type"));
  if (header.tee_type != kTdxTeeType) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "header.tee_type at offset 4 is {:#x}, expected 0x81 (TDX)", header.tee_type);
  }
  CCFDE_ASSIGN_OR_RETURN(header.reserved, reader.array<4>("header.reserved"));
  CCFDE_ASSIGN_OR_RETURN(header.qe_vendor_id, reader.array<16>("header.qe_vendor_id"));
  CCFDE_ASSIGN_OR_RETURN(header.user_data, reader.array<20>("header.user_data"));
  return Status::ok_status();
}

Status parse_body(ByteReader& reader, TdxQuoteBody& body) {
  CCFDE_ASSIGN_OR_RETURN(body.tee_tcb_svn, reader.array<16>("body.tee_tcb_svn"));
  CCFDE_ASSIGN_OR_RETURN(body.mr_seam, reader.array<48>("body.mr_seam"));
  CCFDE_ASSIGN_OR_RETURN(body.mr_signer_seam, reader.array<48>("body.mr_signer_seam"));
  CCFDE_ASSIGN_OR_RETURN(body.seam_attributes, reader.array<8>("body.seam_attributes"));
  CCFDE_ASSIGN_OR_RETURN(body.td_attributes, reader.array<8>("body.td_attributes"));
  CCFDE_ASSIGN_OR_RETURN(body.xfam, reader.array<8>("body.xfam"));
  CCFDE_ASSIGN_OR_RETURN(body.mr_td, reader.array<48>("body.mr_td"));
  CCFDE_ASSIGN_OR_RETURN(body.mr_config_id, reader.array<48>("body.mr_config_id"));
  CCFDE_ASSIGN_OR_RETURN(body.mr_owner, reader.array<48>("body.mr_owner"));
  CCFDE_ASSIGN_OR_RETURN(body.mr_owner_config, reader.array<48>("body.mr_owner_config"));
  CCFDE_ASSIGN_OR_RETURN(body.rtmr[0], reader.array<48>("body.rtmr0"));
  CCFDE_ASSIGN_OR_RETURN(body.rtmr[1], reader.array<48>("body.rtmr1"));
  CCFDE_ASSIGN_OR_RETURN(body.rtmr[2], reader.array<48>("body.rtmr2"));
  CCFDE_ASSIGN_OR_RETURN(body.rtmr[3], reader.array<48>("body.rtmr3"));
  CCFDE_ASSIGN_OR_RETURN(body.report_data, reader.array<64>("body.report_data"));
  if (body.type == TdxBodyType::kTd15) {
    CCFDE_ASSIGN_OR_RETURN(body.tee_tcb_svn2, reader.array<16>("body.tee_tcb_svn2"));
    CCFDE_ASSIGN_OR_RETURN(body.mr_service_td, reader.array<48>("body.mr_service_td"));
  }
  return Status::ok_status();
}

// v5: u16 type, u32 size, then the body of that type.
Status parse_v5_body_descriptor(ByteReader& reader, TdxQuote& quote) {
  const std::size_t type_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(quote.body_descriptor_type, reader.u16le("body_descriptor.type"));
  const std::size_t size_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(quote.body_size, reader.u32le("body_descriptor.size"));
  std::size_t expected_size = 0;
  switch (quote.body_descriptor_type) {
    case static_cast<std::uint16_t>(TdxBodyType::kTd10):
      quote.body.type = TdxBodyType::kTd10;
      expected_size = kTdxBody10Size;
      break;
    case static_cast<std::uint16_t>(TdxBodyType::kTd15):
      quote.body.type = TdxBodyType::kTd15;
      expected_size = kTdxBody15Size;
      break;
    case 1:
      return make_error(ErrorCode::kUnsupportedAlgorithm,
                        "body_descriptor.type at offset {} is 1 (SGX enclave report), expected 2 "
                        "(TD 1.0) or 3 (TD 1.5)",
                        type_offset);
    default:
      return make_error(
          ErrorCode::kUnsupportedAlgorithm,
          "body_descriptor.type at offset {} is {}, expected 2 (TD 1.0) or 3 (TD 1.5)", type_offset,
          quote.body_descriptor_type);
  }
  if (quote.body_size != expected_size) {
    return make_error(ErrorCode::kMalformed,
                      "body_descriptor.size at offset {} is {}, expected {} for body type {}",
                      size_offset, quote.body_size, expected_size, quote.body_descriptor_type);
  }
  return Status::ok_status();
}

Result<SgxReportBody> parse_sgx_report_body(std::span<const std::uint8_t> bytes,
                                            std::size_t base_offset) {
  ByteReader reader(bytes, base_offset);
  SgxReportBody report;
  CCFDE_ASSIGN_OR_RETURN(report.cpu_svn, reader.array<16>("qe_report.cpu_svn"));
  CCFDE_ASSIGN_OR_RETURN(report.misc_select, reader.u32le("qe_report.misc_select"));
  CCFDE_RETURN_IF_ERROR(reader.skip(28, "qe_report.reserved1"));
  CCFDE_ASSIGN_OR_RETURN(report.attributes, reader.array<16>("qe_report.attributes"));
  CCFDE_ASSIGN_OR_RETURN(report.mr_enclave, reader.array<32>("qe_report.mr_enclave"));
  CCFDE_RETURN_IF_ERROR(reader.skip(32, "qe_report.reserved2"));
  CCFDE_ASSIGN_OR_RETURN(report.mr_signer, reader.array<32>("qe_report.mr_signer"));
  CCFDE_RETURN_IF_ERROR(reader.skip(96, "qe_report.reserved3"));
  CCFDE_ASSIGN_OR_RETURN(report.isv_prod_id, reader.u16le("qe_report.isv_prod_id"));
  CCFDE_ASSIGN_OR_RETURN(report.isv_svn, reader.u16le("qe_report.isv_svn"));
  CCFDE_RETURN_IF_ERROR(reader.skip(60, "qe_report.reserved4"));
  CCFDE_ASSIGN_OR_RETURN(report.report_data, reader.array<64>("qe_report.report_data"));
  return report;
}

// Takes a nested block of `size` bytes (declared by the field at `size_offset`) from `reader`;
// kMalformed when the container has fewer bytes left.
Result<std::span<const std::uint8_t>> take_declared(ByteReader& reader, std::size_t size,
                                                    std::string_view field, std::size_t size_offset,
                                                    std::string_view container) {
  if (size > reader.remaining()) {
    return make_error(ErrorCode::kMalformed,
                      "{} at offset {} declares {} bytes, but only {} remain in the {}", field,
                      size_offset, size, reader.remaining(), container);
  }
  return reader.bytes(size, field);
}

// Certification data type 6: QE report, its signature, QE auth data and the inner type 5 chain.
Status parse_qe_report_certification_data(ByteReader& reader, TdxQuote& quote) {
  constexpr std::string_view kContainer = "QE report certification data";
  const std::size_t report_offset = reader.offset();
  CCFDE_NESTED_ASSIGN(quote.qe_report_raw, reader.array<kSgxReportBodySize>("qe_report"),
                      kContainer);
  CCFDE_ASSIGN_OR_RETURN(quote.qe_report,
                         parse_sgx_report_body(quote.qe_report_raw, report_offset));
  CCFDE_NESTED_ASSIGN(quote.qe_report_signature, reader.array<64>("qe_report_signature"),
                      kContainer);
  const std::size_t auth_size_offset = reader.offset();
  std::uint16_t auth_size = 0;
  CCFDE_NESTED_ASSIGN(auth_size, reader.u16le("qe_auth_data_size"), kContainer);
  std::span<const std::uint8_t> auth;
  CCFDE_ASSIGN_OR_RETURN(
      auth, take_declared(reader, auth_size, "qe_auth_data_size", auth_size_offset, kContainer));
  quote.qe_auth_data.assign(auth.begin(), auth.end());

  const std::size_t type_offset = reader.offset();
  CCFDE_NESTED_ASSIGN(quote.pck_cert_data_type, reader.u16le("pck_cert_data_type"), kContainer);
  if (quote.pck_cert_data_type != kCertDataPckCertChain) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "pck_cert_data_type at offset {} is {}, expected 5 (PCK certificate chain)",
                      type_offset, quote.pck_cert_data_type);
  }
  const std::size_t pem_size_offset = reader.offset();
  std::uint32_t pem_size = 0;
  CCFDE_NESTED_ASSIGN(pem_size, reader.u32le("pck_cert_data_size"), kContainer);
  std::span<const std::uint8_t> pem;
  CCFDE_ASSIGN_OR_RETURN(
      pem, take_declared(reader, pem_size, "pck_cert_data_size", pem_size_offset, kContainer));
  quote.pck_chain_pem.assign(pem.begin(), pem.end());
  if (!reader.at_end()) {
    return make_error(ErrorCode::kMalformed,
                      "{} has {} unused bytes at offset {} after the PCK certificate chain",
                      kContainer, reader.remaining(), reader.offset());
  }
  return Status::ok_status();
}

Status parse_signature_data(ByteReader& reader, TdxQuote& quote) {
  constexpr std::string_view kContainer = "signature data";
  CCFDE_NESTED_ASSIGN(quote.quote_signature, reader.array<64>("quote_signature"), kContainer);
  CCFDE_NESTED_ASSIGN(quote.attestation_public_key, reader.array<64>("attestation_public_key"),
                      kContainer);
  const std::size_t type_offset = reader.offset();
  CCFDE_NESTED_ASSIGN(quote.certification_data_type, reader.u16le("certification_data_type"),
                      kContainer);
  if (quote.certification_data_type != kCertDataQeReport) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "certification_data_type at offset {} is {}, expected 6 (QE report "
                      "certification data)",
                      type_offset, quote.certification_data_type);
  }
  const std::size_t size_offset = reader.offset();
  CCFDE_NESTED_ASSIGN(quote.certification_data_size, reader.u32le("certification_data_size"),
                      kContainer);
  std::span<const std::uint8_t> cert_data;
  CCFDE_ASSIGN_OR_RETURN(
      cert_data, take_declared(reader, quote.certification_data_size, "certification_data_size",
                               size_offset, kContainer));
  ByteReader cert_reader(cert_data, reader.offset() - cert_data.size());
  CCFDE_RETURN_IF_ERROR(parse_qe_report_certification_data(cert_reader, quote));
  if (!reader.at_end()) {
    return make_error(ErrorCode::kMalformed,
                      "{} has {} unused bytes at offset {} after the certification data",
                      kContainer, reader.remaining(), reader.offset());
  }
  return Status::ok_status();
}

#undef CCFDE_NESTED_ASSIGN

nlohmann::json hex(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

bool is_printable_text(std::string_view text) {
  return std::ranges::all_of(text, [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte >= 0x20 || byte == '\n' || byte == '\r' || byte == '\t') && byte <= 0x7e;
  });
}

}  // namespace

std::uint64_t td_attributes_value(const TdxQuoteBody& body) noexcept {
  return load_u64le(body.td_attributes, 0);
}

Result<TdxQuote> parse_tdx_quote(std::span<const std::uint8_t> bytes) {
  ByteReader reader(bytes);
  TdxQuote quote;
  CCFDE_RETURN_IF_ERROR(parse_header(reader, quote.header));
  if (quote.header.version == kTdxQuoteVersion5) {
    CCFDE_RETURN_IF_ERROR(parse_v5_body_descriptor(reader, quote));
  } else {
    quote.body_descriptor_type = static_cast<std::uint16_t>(TdxBodyType::kTd10);
    quote.body_size = static_cast<std::uint32_t>(kTdxBody10Size);
    quote.body.type = TdxBodyType::kTd10;
  }
  CCFDE_RETURN_IF_ERROR(parse_body(reader, quote.body));
  quote.signed_region_offset = 0;
  quote.signed_region_size = reader.offset();
  quote.signed_region.assign(bytes.begin(),
                             bytes.begin() + static_cast<std::ptrdiff_t>(quote.signed_region_size));

  const std::size_t len_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(quote.signature_data_len, reader.u32le("signature_data_len"));
  quote.signature_data_offset = reader.offset();
  if (quote.signature_data_len > reader.remaining()) {
    return make_error(ErrorCode::kTruncated,
                      "signature_data_len at offset {} declares {} bytes, only {} left", len_offset,
                      quote.signature_data_len, reader.remaining());
  }
  CCFDE_ASSIGN_OR_RETURN(auto signature_data,
                         reader.bytes(quote.signature_data_len, "signature_data"));
  ByteReader signature_reader(signature_data, quote.signature_data_offset);
  CCFDE_RETURN_IF_ERROR(parse_signature_data(signature_reader, quote));

  const auto rest = reader.rest();
  quote.trailing_bytes.assign(rest.begin(), rest.end());
  return quote;
}

bool looks_like_tdx_quote(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() < kTdxQuoteHeaderSize) return false;
  const std::uint16_t version = load_u16le(bytes, 0);
  return (version == kTdxQuoteVersion4 || version == kTdxQuoteVersion5) &&
         load_u16le(bytes, 2) == kTdxAttestationKeyEcdsaP256 && load_u32le(bytes, 4) == kTdxTeeType;
}

nlohmann::json to_json(const TdxQuoteHeader& header) {
  return {
      {"version", header.version},
      {"attestation_key_type", header.attestation_key_type},
      {"tee_type", header.tee_type},
      {"reserved", hex(header.reserved)},
      {"qe_vendor_id", hex(header.qe_vendor_id)},
      {"qe_vendor_is_intel", header.qe_vendor_id == kIntelQeVendorId},
      {"user_data", hex(header.user_data)},
  };
}

nlohmann::json to_json(const TdxQuoteBody& body) {
  const std::uint64_t attributes = td_attributes_value(body);
  nlohmann::json json = {
      {"type", body.type == TdxBodyType::kTd15 ? "td15" : "td10"},
      {"tee_tcb_svn", hex(body.tee_tcb_svn)},
      {"mr_seam", hex(body.mr_seam)},
      {"mr_signer_seam", hex(body.mr_signer_seam)},
      {"seam_attributes", hex(body.seam_attributes)},
      {"td_attributes", hex(body.td_attributes)},
      {"td_attributes_flags",
       {
           {"debug", (attributes & kTdAttributeDebug) != 0},
           {"sept_ve_disable", (attributes & kTdAttributeSeptVeDisable) != 0},
           {"protection_keys", (attributes & kTdAttributePks) != 0},
           {"key_locker", (attributes & kTdAttributeKeyLocker) != 0},
           {"perfmon", (attributes & kTdAttributePerfmon) != 0},
       }},
      {"xfam", hex(body.xfam)},
      {"mr_td", hex(body.mr_td)},
      {"mr_config_id", hex(body.mr_config_id)},
      {"mr_owner", hex(body.mr_owner)},
      {"mr_owner_config", hex(body.mr_owner_config)},
      {"rtmr0", hex(body.rtmr[0])},
      {"rtmr1", hex(body.rtmr[1])},
      {"rtmr2", hex(body.rtmr[2])},
      {"rtmr3", hex(body.rtmr[3])},
      {"report_data", hex(body.report_data)},
  };
  if (body.type == TdxBodyType::kTd15) {
    json["tee_tcb_svn2"] = hex(body.tee_tcb_svn2);
    json["mr_service_td"] = hex(body.mr_service_td);
  }
  return json;
}

nlohmann::json to_json(const SgxReportBody& report) {
  return {
      {"cpu_svn", hex(report.cpu_svn)},
      {"misc_select", report.misc_select},
      {"attributes", hex(report.attributes)},
      {"mr_enclave", hex(report.mr_enclave)},
      {"mr_signer", hex(report.mr_signer)},
      {"isv_prod_id", report.isv_prod_id},
      {"isv_svn", report.isv_svn},
      {"report_data", hex(report.report_data)},
  };
}

nlohmann::json to_json(const TdxQuote& quote) {
  nlohmann::json json = {
      {"header", to_json(quote.header)},
      {"body_descriptor", {{"type", quote.body_descriptor_type}, {"size", quote.body_size}}},
      {"body", to_json(quote.body)},
      {"signed_region",
       {{"offset", quote.signed_region_offset}, {"size", quote.signed_region_size}}},
      {"signature_data_len", quote.signature_data_len},
      {"quote_signature", hex(quote.quote_signature)},
      {"attestation_public_key", hex(quote.attestation_public_key)},
      {"certification_data_type", quote.certification_data_type},
      {"certification_data_size", quote.certification_data_size},
      {"qe_report", to_json(quote.qe_report)},
      {"qe_report_signature", hex(quote.qe_report_signature)},
      {"qe_auth_data", hex(quote.qe_auth_data)},
      {"pck_cert_data_type", quote.pck_cert_data_type},
      {"pck_cert_data_size", quote.pck_chain_pem.size()},
      {"trailing_bytes_size", quote.trailing_bytes.size()},
      {"trailing_bytes", hex(quote.trailing_bytes)},
  };
  // JSON strings must be UTF-8: a chain with other bytes is shown as hex.
  std::string_view pem = as_chars(quote.pck_chain_pem);
  pem = pem.substr(0, pem.find_last_not_of('\0') + 1);
  if (is_printable_text(pem)) {
    json["pck_chain_pem"] = std::string(pem);
  } else {
    json["pck_chain_hex"] = hex(quote.pck_chain_pem);
  }
  return json;
}

}  // namespace ccfde::measure
