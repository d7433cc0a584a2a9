// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/ccel.h"

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure {

namespace {

Result<std::string> read_text(ByteReader& reader, std::size_t size, std::string_view field) {
  CCFDE_ASSIGN_OR_RETURN(auto view, reader.bytes(size, field));
  return std::string(as_chars(view));
}

}  // namespace

Result<CcelTable> parse_ccel_table(std::span<const std::uint8_t> bytes) {
  ByteReader reader(bytes);
  CcelTable table;
  CCFDE_RETURN_IF_ERROR(reader.require(kCcelTableSize, "CCEL table"));
  CCFDE_ASSIGN_OR_RETURN(table.signature, read_text(reader, 4, "CCEL signature"));
  if (table.signature != "CCEL") {
    return make_error(ErrorCode::kMalformed,
                      "CCEL signature at offset 0: expected \"CCEL\", found hex {}",
                      hex_encode(bytes.first(4)));
  }
  CCFDE_ASSIGN_OR_RETURN(table.length, reader.u32le("CCEL length"));
  if (table.length != bytes.size()) {
    return make_error(ErrorCode::kMalformed,
                      "CCEL length at offset 4 is {} but the table has {} bytes (expected {})",
                      table.length, bytes.size(), kCcelTableSize);
  }
  CCFDE_ASSIGN_OR_RETURN(table.revision, reader.u8("CCEL revision"));
  if (table.revision != 1) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "CCEL revision at offset 8: expected 1, found {}", table.revision);
  }
  CCFDE_ASSIGN_OR_RETURN(table.checksum, reader.u8("CCEL checksum"));
  unsigned sum = 0;
  for (std::uint8_t byte : bytes) sum += byte;
  if (sum % 256 != 0) {
    return make_error(ErrorCode::kMalformed,
                      "CCEL checksum at offset 9 (0x{:02x}) is wrong: the byte sum is 0x{:02x} "
                      "mod 256, expected 0",
                      table.checksum, sum % 256);
  }
  CCFDE_ASSIGN_OR_RETURN(table.oem_id, read_text(reader, 6, "CCEL OEM ID"));
  CCFDE_ASSIGN_OR_RETURN(table.oem_table_id, read_text(reader, 8, "CCEL OEM table ID"));
  CCFDE_ASSIGN_OR_RETURN(table.oem_revision, reader.u32le("CCEL OEM revision"));
  CCFDE_ASSIGN_OR_RETURN(table.creator_id, read_text(reader, 4, "CCEL creator ID"));
  CCFDE_ASSIGN_OR_RETURN(table.creator_revision, reader.u32le("CCEL creator revision"));
  CCFDE_ASSIGN_OR_RETURN(table.cc_type, reader.u8("CCEL CC type"));
  if (table.cc_type > kCcTypeTdx) {
    return make_error(ErrorCode::kUnsupportedAlgorithm,
                      "CCEL CC type at offset 36: expected 0, 1 (SEV) or 2 (TDX), found {}",
                      table.cc_type);
  }
  CCFDE_ASSIGN_OR_RETURN(table.cc_subtype, reader.u8("CCEL CC subtype"));
  CCFDE_RETURN_IF_ERROR(reader.skip(2, "CCEL reserved"));
  CCFDE_ASSIGN_OR_RETURN(table.log_area_minimum_length, reader.u64le("CCEL LAML"));
  CCFDE_ASSIGN_OR_RETURN(table.log_area_start_address, reader.u64le("CCEL LASA"));
  return table;
}

std::string_view cc_type_name(std::uint8_t cc_type) noexcept {
  switch (cc_type) {
    case kCcTypeReserved: return "reserved";
    case kCcTypeSev: return "sev";
    case kCcTypeTdx: return "tdx";
    default: return "unknown";
  }
}

nlohmann::json to_json(const CcelTable& table) {
  return nlohmann::json{
      {"signature", escape_nonprintable(table.signature)},
      {"length", table.length},
      {"revision", table.revision},
      {"checksum", table.checksum},
      {"oem_id", escape_nonprintable(table.oem_id)},
      {"oem_table_id", escape_nonprintable(table.oem_table_id)},
      {"oem_revision", table.oem_revision},
      {"creator_id", escape_nonprintable(table.creator_id)},
      {"creator_revision", table.creator_revision},
      {"cc_type", table.cc_type},
      {"cc_type_name", cc_type_name(table.cc_type)},
      {"cc_subtype", table.cc_subtype},
      {"log_area_minimum_length", table.log_area_minimum_length},
      {"log_area_start_address", table.log_area_start_address},
  };
}

}  // namespace ccfde::measure
