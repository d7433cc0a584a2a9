// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tcg_event_log.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"
#include "text.h"

namespace ccfde::measure {

namespace {

constexpr std::size_t kSha1DigestSize = 20;
constexpr std::string_view kSpecIdSignature03{"Spec ID Event03\0", 16};
constexpr std::string_view kStartupLocalitySignature{"StartupLocality\0", 16};
constexpr std::size_t kEfiGuidSize = 16;

struct NamedValue {
  std::uint32_t value;
  std::string_view name;
};

constexpr std::array kEventTypeNames = {
    NamedValue{kEvPrebootCert, "EV_PREBOOT_CERT"},
    NamedValue{kEvPostCode, "EV_POST_CODE"},
    NamedValue{kEvUnused, "EV_UNUSED"},
    NamedValue{kEvNoAction, "EV_NO_ACTION"},
    NamedValue{kEvSeparator, "EV_SEPARATOR"},
    NamedValue{kEvAction, "EV_ACTION"},
    NamedValue{kEvEventTag, "EV_EVENT_TAG"},
    NamedValue{kEvSCrtmContents, "EV_S_CRTM_CONTENTS"},
    NamedValue{kEvSCrtmVersion, "EV_S_CRTM_VERSION"},
    NamedValue{kEvCpuMicrocode, "EV_CPU_MICROCODE"},
    NamedValue{kEvPlatformConfigFlags, "EV_PLATFORM_CONFIG_FLAGS"},
    NamedValue{kEvTableOfDevices, "EV_TABLE_OF_DEVICES"},
    NamedValue{kEvCompactHash, "EV_COMPACT_HASH"},
    NamedValue{kEvIpl, "EV_IPL"},
    NamedValue{kEvIplPartitionData, "EV_IPL_PARTITION_DATA"},
    NamedValue{kEvNonhostCode, "EV_NONHOST_CODE"},
    NamedValue{kEvNonhostConfig, "EV_NONHOST_CONFIG"},
    NamedValue{kEvNonhostInfo, "EV_NONHOST_INFO"},
    NamedValue{kEvOmitBootDeviceEvents, "EV_OMIT_BOOT_DEVICE_EVENTS"},
    NamedValue{kEvEfiEventBase, "EV_EFI_EVENT_BASE"},
    NamedValue{kEvEfiVariableDriverConfig, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
    NamedValue{kEvEfiVariableBoot, "EV_EFI_VARIABLE_BOOT"},
    NamedValue{kEvEfiBootServicesApplication, "EV_EFI_BOOT_SERVICES_APPLICATION"},
    NamedValue{kEvEfiBootServicesDriver, "EV_EFI_BOOT_SERVICES_DRIVER"},
    NamedValue{kEvEfiRuntimeServicesDriver, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
    NamedValue{kEvEfiGptEvent, "EV_EFI_GPT_EVENT"},
    NamedValue{kEvEfiAction, "EV_EFI_ACTION"},
    NamedValue{kEvEfiPlatformFirmwareBlob, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
    NamedValue{kEvEfiHandoffTables, "EV_EFI_HANDOFF_TABLES"},
    NamedValue{kEvEfiPlatformFirmwareBlob2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
    NamedValue{kEvEfiHandoffTables2, "EV_EFI_HANDOFF_TABLES2"},
    NamedValue{kEvEfiVariableBoot2, "EV_EFI_VARIABLE_BOOT2"},
    NamedValue{kEvEfiHcrtmEvent, "EV_EFI_HCRTM_EVENT"},
    NamedValue{kEvEfiVariableAuthority, "EV_EFI_VARIABLE_AUTHORITY"},
    NamedValue{kEvEfiSpdmFirmwareBlob, "EV_EFI_SPDM_FIRMWARE_BLOB"},
    NamedValue{kEvEfiSpdmFirmwareConfig, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
};

struct AlgorithmInfo {
  std::uint16_t id;
  std::string_view name;
  std::size_t size;
};

constexpr std::array kAlgorithms = {
    AlgorithmInfo{kTcgAlgSha1, "sha1", 20},       AlgorithmInfo{kTcgAlgSha256, "sha256", 32},
    AlgorithmInfo{kTcgAlgSha384, "sha384", 48},   AlgorithmInfo{kTcgAlgSha512, "sha512", 64},
    AlgorithmInfo{kTcgAlgSm3_256, "sm3_256", 32},
};

const AlgorithmInfo* find_algorithm(std::uint16_t id) {
  for (const auto& info : kAlgorithms) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

bool all_ff(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0xFF; });
}

Bytes to_bytes(std::span<const std::uint8_t> view) {
  return Bytes(view.begin(), view.end());
}

Result<std::string> read_guid(ByteReader& reader, std::string_view field) {
  CCFDE_ASSIGN_OR_RETURN(auto view, reader.bytes(kEfiGuidSize, field));
  return internal::efi_guid_to_string(view);
}

// A count of fixed-size items that must fit in what is left (so a huge count cannot make us
// reserve memory or loop long).
Status check_count(const ByteReader& reader, std::uint64_t count, std::size_t item_size,
                   std::string_view field) {
  if (count > reader.remaining() / item_size) {
    return make_error(ErrorCode::kTruncated,
                      "{} at offset {} declares {} items of {} bytes, only {} bytes left", field,
                      reader.offset(), count, item_size, reader.remaining());
  }
  return Status();
}

Result<UefiVariableEvent> decode_variable(ByteReader& reader) {
  UefiVariableEvent out;
  CCFDE_ASSIGN_OR_RETURN(out.variable_guid, read_guid(reader, "VariableName GUID"));
  CCFDE_ASSIGN_OR_RETURN(auto name_length, reader.u64le("UnicodeNameLength"));
  CCFDE_ASSIGN_OR_RETURN(auto data_length, reader.u64le("VariableDataLength"));
  CCFDE_RETURN_IF_ERROR(check_count(reader, name_length, 2, "UnicodeName"));
  CCFDE_ASSIGN_OR_RETURN(auto name,
                         reader.bytes(static_cast<std::size_t>(name_length) * 2, "UnicodeName"));
  out.name = internal::utf16le_to_utf8(name);
  CCFDE_RETURN_IF_ERROR(check_count(reader, data_length, 1, "VariableData"));
  CCFDE_ASSIGN_OR_RETURN(auto data,
                         reader.bytes(static_cast<std::size_t>(data_length), "VariableData"));
  out.data = to_bytes(data);
  return out;
}

Result<std::optional<std::string>> read_description(ByteReader& reader) {
  CCFDE_ASSIGN_OR_RETURN(auto size, reader.u8("description size"));
  CCFDE_ASSIGN_OR_RETURN(auto text, reader.bytes(size, "description"));
  std::string description(as_chars(text));
  while (!description.empty() && description.back() == '\0') description.pop_back();
  return std::optional<std::string>(std::move(description));
}

Result<FirmwareBlobEvent> decode_firmware_blob(ByteReader& reader, bool with_description) {
  FirmwareBlobEvent out;
  if (with_description) {
    CCFDE_ASSIGN_OR_RETURN(out.description, read_description(reader));
  }
  CCFDE_ASSIGN_OR_RETURN(out.base, reader.u64le("BlobBase"));
  CCFDE_ASSIGN_OR_RETURN(out.length, reader.u64le("BlobLength"));
  return out;
}

Result<HandoffTablesEvent> decode_handoff_tables(ByteReader& reader, bool with_description) {
  HandoffTablesEvent out;
  if (with_description) {
    CCFDE_ASSIGN_OR_RETURN(out.description, read_description(reader));
  }
  CCFDE_ASSIGN_OR_RETURN(auto count, reader.u64le("NumberOfTables"));
  CCFDE_RETURN_IF_ERROR(check_count(reader, count, kEfiGuidSize + 8, "TableEntry"));
  for (std::uint64_t i = 0; i < count; ++i) {
    EfiGuidPointer entry;
    CCFDE_ASSIGN_OR_RETURN(entry.guid, read_guid(reader, "VendorGuid"));
    CCFDE_ASSIGN_OR_RETURN(entry.pointer, reader.u64le("VendorTable"));
    out.tables.push_back(std::move(entry));
  }
  return out;
}

Result<ImageLoadEvent> decode_image_load(ByteReader& reader) {
  ImageLoadEvent out;
  CCFDE_ASSIGN_OR_RETURN(out.image_location, reader.u64le("ImageLocationInMemory"));
  CCFDE_ASSIGN_OR_RETURN(out.image_length, reader.u64le("ImageLengthInMemory"));
  CCFDE_ASSIGN_OR_RETURN(out.image_link_time_address, reader.u64le("ImageLinkTimeAddress"));
  CCFDE_ASSIGN_OR_RETURN(auto path_length, reader.u64le("LengthOfDevicePath"));
  CCFDE_RETURN_IF_ERROR(check_count(reader, path_length, 1, "DevicePath"));
  CCFDE_ASSIGN_OR_RETURN(auto path,
                         reader.bytes(static_cast<std::size_t>(path_length), "DevicePath"));
  out.device_path = to_bytes(path);
  return out;
}

Result<TaggedEvent> decode_tagged(ByteReader& reader) {
  TaggedEvent out;
  CCFDE_ASSIGN_OR_RETURN(out.tagged_event_id, reader.u32le("taggedEventID"));
  CCFDE_ASSIGN_OR_RETURN(auto size, reader.u32le("taggedEventDataSize"));
  CCFDE_ASSIGN_OR_RETURN(auto data, reader.bytes(size, "taggedEventData"));
  out.tagged_data = to_bytes(data);
  out.text = internal::printable_text(data);
  return out;
}

Result<DecodedEventData> decode_no_action(std::span<const std::uint8_t> data) {
  if (data.size() == kStartupLocalitySignature.size() + 1 &&
      as_chars(data.first(kStartupLocalitySignature.size())) == kStartupLocalitySignature) {
    return DecodedEventData(StartupLocalityEvent{data.back()});
  }
  // Other EV_NO_ACTION payloads start with a 16-byte NUL-padded signature ("SP800-155 Event3").
  if (data.size() >= 16) {
    if (auto text = internal::printable_text(data.first(16))) {
      return DecodedEventData(TextEvent{std::move(*text)});
    }
  }
  return DecodedEventData{};
}

// Decodes event data for display. Returns an error only for data that should follow a known
// layout and does not; binary payloads of text-ish types decode to monostate.
Result<DecodedEventData> decode_event_data(std::uint32_t type, std::span<const std::uint8_t> data,
                                           std::size_t data_offset) {
  ByteReader reader(data, data_offset);
  switch (type) {
    case kEvEfiVariableDriverConfig:
    case kEvEfiVariableBoot:
    case kEvEfiVariableBoot2:
    case kEvEfiVariableAuthority: {
      CCFDE_ASSIGN_OR_RETURN(auto out, decode_variable(reader));
      return DecodedEventData(std::move(out));
    }
    case kEvEfiPlatformFirmwareBlob:
    case kEvEfiPlatformFirmwareBlob2: {
      CCFDE_ASSIGN_OR_RETURN(auto out,
                             decode_firmware_blob(reader, type == kEvEfiPlatformFirmwareBlob2));
      return DecodedEventData(std::move(out));
    }
    case kEvEfiHandoffTables:
    case kEvEfiHandoffTables2: {
      CCFDE_ASSIGN_OR_RETURN(auto out, decode_handoff_tables(reader, type == kEvEfiHandoffTables2));
      return DecodedEventData(std::move(out));
    }
    case kEvEfiBootServicesApplication:
    case kEvEfiBootServicesDriver:
    case kEvEfiRuntimeServicesDriver: {
      CCFDE_ASSIGN_OR_RETURN(auto out, decode_image_load(reader));
      return DecodedEventData(std::move(out));
    }
    case kEvSeparator: {
      if (data.size() != 4) {
        return make_error(ErrorCode::kMalformed,
                          "EV_SEPARATOR data at offset {}: expected 4 bytes, found {}", data_offset,
                          data.size());
      }
      return DecodedEventData(SeparatorEvent{load_u32le(data, 0)});
    }
    case kEvEventTag: {
      CCFDE_ASSIGN_OR_RETURN(auto out, decode_tagged(reader));
      return DecodedEventData(std::move(out));
    }
    case kEvSCrtmVersion: {
      std::string text = (data.size() % 2 == 0) ? internal::utf16le_to_utf8(data) : "";
      while (!text.empty() && text.back() == '\0') text.pop_back();
      if (text.empty()) {
        if (auto ascii = internal::printable_text(data)) text = std::move(*ascii);
      }
      if (text.empty()) return DecodedEventData{};
      return DecodedEventData(TextEvent{std::move(text)});
    }
    case kEvAction:
    case kEvEfiAction:
    case kEvIpl:
    case kEvPlatformConfigFlags:
    case kEvPostCode:
    case kEvCompactHash:
    case kEvOmitBootDeviceEvents: {
      if (auto text = internal::printable_text(data)) {
        return DecodedEventData(TextEvent{std::move(*text)});
      }
      return DecodedEventData{};
    }
    case kEvNoAction: return decode_no_action(data);
    default: return DecodedEventData{};
  }
}

void decode_into(TcgEvent& event, std::size_t data_offset) {
  auto decoded = decode_event_data(event.event_type, event.data, data_offset);
  if (decoded.ok()) {
    event.decoded = std::move(decoded).value();
  } else {
    event.decode_error = decoded.status().message();
  }
}

Result<SpecIdEvent> parse_spec_id(std::span<const std::uint8_t> data, std::size_t data_offset) {
  ByteReader reader(data, data_offset);
  SpecIdEvent spec;
  CCFDE_ASSIGN_OR_RETURN(auto signature, reader.bytes(16, "Spec ID signature"));
  spec.signature = std::string(as_chars(signature.first(15)));
  CCFDE_ASSIGN_OR_RETURN(spec.platform_class, reader.u32le("Spec ID platformClass"));
  CCFDE_ASSIGN_OR_RETURN(spec.spec_version_minor, reader.u8("Spec ID specVersionMinor"));
  CCFDE_ASSIGN_OR_RETURN(spec.spec_version_major, reader.u8("Spec ID specVersionMajor"));
  CCFDE_ASSIGN_OR_RETURN(spec.spec_errata, reader.u8("Spec ID specErrata"));
  CCFDE_ASSIGN_OR_RETURN(spec.uintn_size, reader.u8("Spec ID uintnSize"));
  if (spec.spec_version_major != 2) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "Spec ID specVersionMajor at offset {}: expected 2, found {}",
                      data_offset + 21, spec.spec_version_major);
  }
  if (spec.uintn_size != 1 && spec.uintn_size != 2) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "Spec ID uintnSize at offset {}: expected 1 or 2, found {}", data_offset + 23,
                      spec.uintn_size);
  }
  std::size_t count_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(auto count, reader.u32le("Spec ID numberOfAlgorithms"));
  if (count == 0) {
    return make_error(ErrorCode::kMalformed,
                      "Spec ID numberOfAlgorithms at offset {}: expected at least 1, found 0",
                      count_offset);
  }
  CCFDE_RETURN_IF_ERROR(check_count(reader, count, 4, "Spec ID digestSizes"));
  for (std::uint32_t i = 0; i < count; ++i) {
    std::size_t entry_offset = reader.offset();
    AlgorithmSize entry;
    CCFDE_ASSIGN_OR_RETURN(entry.algorithm_id, reader.u16le("Spec ID algorithmId"));
    CCFDE_ASSIGN_OR_RETURN(entry.digest_size, reader.u16le("Spec ID digestSize"));
    const AlgorithmInfo* info = find_algorithm(entry.algorithm_id);
    if (info == nullptr) {
      return make_error(ErrorCode::kUnsupportedAlgorithm,
                        "Spec ID algorithm {} at offset {}: unknown TCG algorithm id 0x{:04x}", i,
                        entry_offset, entry.algorithm_id);
    }
    if (entry.digest_size != info->size) {
      return make_error(ErrorCode::kMalformed,
                        "Spec ID algorithm {} ({}) at offset {}: expected digest size {}, found {}",
                        i, info->name, entry_offset, info->size, entry.digest_size);
    }
    for (const auto& previous : spec.algorithms) {
      if (previous.algorithm_id == entry.algorithm_id) {
        return make_error(ErrorCode::kMalformed,
                          "Spec ID algorithm {} at offset {}: {} is declared twice", i,
                          entry_offset, info->name);
      }
    }
    spec.algorithms.push_back(entry);
  }
  CCFDE_ASSIGN_OR_RETURN(auto vendor_size, reader.u8("Spec ID vendorInfoSize"));
  CCFDE_ASSIGN_OR_RETURN(auto vendor, reader.bytes(vendor_size, "Spec ID vendorInfo"));
  spec.vendor_info = to_bytes(vendor);
  if (!reader.at_end()) {
    return make_error(ErrorCode::kMalformed,
                      "Spec ID event: {} bytes after vendorInfo at offset {} (eventSize larger "
                      "than its content)",
                      reader.remaining(), reader.offset());
  }
  return spec;
}

Result<TcgEvent> parse_header(ByteReader& reader, SpecIdEvent& spec) {
  TcgEvent header;
  header.index = 0;
  header.offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(header.register_index, reader.u32le("header pcrIndex"));
  CCFDE_ASSIGN_OR_RETURN(header.event_type, reader.u32le("header eventType"));
  CCFDE_ASSIGN_OR_RETURN(auto digest, reader.bytes(kSha1DigestSize, "header SHA-1 digest"));
  header.digests.push_back(EventDigest{kTcgAlgSha1, to_bytes(digest)});
  CCFDE_ASSIGN_OR_RETURN(auto size, reader.u32le("header eventSize"));
  std::size_t data_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(auto data, reader.bytes(size, "header event data"));
  header.data = to_bytes(data);
  header.size = reader.offset() - header.offset;
  bool is_spec_id03 = data.size() >= kSpecIdSignature03.size() &&
                      as_chars(data.first(kSpecIdSignature03.size())) == kSpecIdSignature03;
  if (header.event_type != kEvNoAction || !is_spec_id03) {
    std::string found =
        escape_nonprintable(as_chars(data.first(std::min<std::size_t>(16, data.size()))));
    return make_error(ErrorCode::kUnsupportedVersion,
                      "first record at offset 0 is not a Spec ID Event03 (eventType 0x{:x}, "
                      "signature \"{}\"): TPM 1.2 SHA-1 logs are not supported",
                      header.event_type, found);
  }
  CCFDE_ASSIGN_OR_RETURN(spec, parse_spec_id(data, data_offset));
  return header;
}

Result<TcgEvent> parse_event2(ByteReader& reader, const SpecIdEvent& spec, std::size_t index) {
  TcgEvent event;
  event.index = index;
  event.offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(event.register_index, reader.u32le("pcrIndex"));
  CCFDE_ASSIGN_OR_RETURN(event.event_type, reader.u32le("eventType"));
  std::size_t count_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(auto count, reader.u32le("digestCount"));
  if (count != spec.algorithms.size()) {
    return make_error(ErrorCode::kMalformed,
                      "digestCount at offset {}: expected {} (banks in the Spec ID event), "
                      "found {}",
                      count_offset, spec.algorithms.size(), count);
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    std::size_t alg_offset = reader.offset();
    CCFDE_ASSIGN_OR_RETURN(auto algorithm_id, reader.u16le("digest hashAlg"));
    const AlgorithmInfo* info = find_algorithm(algorithm_id);
    if (info == nullptr) {
      return make_error(ErrorCode::kUnsupportedAlgorithm,
                        "digest {} hashAlg at offset {}: unknown TCG algorithm id 0x{:04x}", i,
                        alg_offset, algorithm_id);
    }
    auto declared =
        std::find_if(spec.algorithms.begin(), spec.algorithms.end(),
                     [&](const AlgorithmSize& a) { return a.algorithm_id == algorithm_id; });
    if (declared == spec.algorithms.end()) {
      return make_error(ErrorCode::kMalformed,
                        "digest {} hashAlg at offset {}: {} is not a bank of the Spec ID event", i,
                        alg_offset, info->name);
    }
    if (event.digest_for(algorithm_id) != nullptr) {
      return make_error(ErrorCode::kMalformed, "digest {} hashAlg at offset {}: {} appears twice",
                        i, alg_offset, info->name);
    }
    CCFDE_ASSIGN_OR_RETURN(auto digest, reader.bytes(declared->digest_size, "digest"));
    event.digests.push_back(EventDigest{algorithm_id, to_bytes(digest)});
  }
  CCFDE_ASSIGN_OR_RETURN(auto size, reader.u32le("eventSize"));
  std::size_t data_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(auto data, reader.bytes(size, "event data"));
  event.data = to_bytes(data);
  event.size = reader.offset() - event.offset;
  decode_into(event, data_offset);
  return event;
}

}  // namespace

std::optional<std::string_view> tcg_algorithm_name(std::uint16_t algorithm_id) noexcept {
  const AlgorithmInfo* info = find_algorithm(algorithm_id);
  if (info == nullptr) return std::nullopt;
  return info->name;
}

std::optional<std::size_t> tcg_algorithm_digest_size(std::uint16_t algorithm_id) noexcept {
  const AlgorithmInfo* info = find_algorithm(algorithm_id);
  if (info == nullptr) return std::nullopt;
  return info->size;
}

std::optional<DigestAlgorithm> tcg_algorithm_to_digest(std::uint16_t algorithm_id) noexcept {
  switch (algorithm_id) {
    case kTcgAlgSha1: return DigestAlgorithm::kSha1;
    case kTcgAlgSha256: return DigestAlgorithm::kSha256;
    case kTcgAlgSha384: return DigestAlgorithm::kSha384;
    case kTcgAlgSha512: return DigestAlgorithm::kSha512;
    default: return std::nullopt;
  }
}

std::uint16_t tcg_algorithm_from_digest(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::kSha1: return kTcgAlgSha1;
    case DigestAlgorithm::kSha256: return kTcgAlgSha256;
    case DigestAlgorithm::kSha384: return kTcgAlgSha384;
    case DigestAlgorithm::kSha512: return kTcgAlgSha512;
  }
  return 0;
}

std::string_view event_type_name(std::uint32_t event_type) noexcept {
  for (const auto& entry : kEventTypeNames) {
    if (entry.value == event_type) return entry.name;
  }
  return "UNKNOWN";
}

std::optional<std::uint32_t> rtmr_index_from_cc_mr_index(std::uint32_t cc_mr_index) noexcept {
  if (cc_mr_index < 1 || cc_mr_index > kRtmrCount) return std::nullopt;
  return cc_mr_index - 1;
}

std::optional<std::uint32_t> cc_mr_index_from_rtmr_index(std::uint32_t rtmr_index) noexcept {
  if (rtmr_index >= kRtmrCount) return std::nullopt;
  return rtmr_index + 1;
}

std::optional<std::uint32_t> cc_mr_index_from_pcr(std::uint32_t pcr) noexcept {
  if (pcr == 0) return 0;
  if (pcr == 1 || pcr == 7) return 1;
  if (pcr >= 2 && pcr <= 6) return 2;
  if (pcr >= 8 && pcr <= 15) return 3;
  return std::nullopt;
}

std::string_view cc_mr_register_name(std::uint32_t cc_mr_index) noexcept {
  switch (cc_mr_index) {
    case 0: return "MRTD";
    case 1: return "RTMR0";
    case 2: return "RTMR1";
    case 3: return "RTMR2";
    case 4: return "RTMR3";
    default: return "unknown";
  }
}

const Bytes* TcgEvent::digest_for(std::uint16_t algorithm_id) const noexcept {
  for (const auto& entry : digests) {
    if (entry.algorithm_id == algorithm_id) return &entry.digest;
  }
  return nullptr;
}

Result<TcgEventLog> parse_tcg_event_log(std::span<const std::uint8_t> bytes) {
  ByteReader reader(bytes);
  TcgEventLog log;
  log.input_size = bytes.size();
  CCFDE_ASSIGN_OR_RETURN(log.header, parse_header(reader, log.spec_id));
  std::size_t index = 1;
  while (!reader.at_end()) {
    std::size_t record_offset = reader.offset();
    auto rest = reader.rest();
    bool padding = rest.size() < 4 ? all_ff(rest) : load_u32le(rest, 0) == kPaddingRegisterIndex;
    if (padding) {
      auto bad = std::find_if(rest.begin(), rest.end(), [](std::uint8_t b) { return b != 0xFF; });
      if (bad != rest.end()) {
        auto bad_offset = record_offset + static_cast<std::size_t>(bad - rest.begin());
        return make_error(ErrorCode::kMalformed,
                          "padding starting at offset {} (record {}): byte at offset {} is "
                          "0x{:02x}, expected 0xff",
                          record_offset, index, bad_offset, *bad);
      }
      log.end = LogEnd::kPadding;
      break;
    }
    auto event = parse_event2(reader, log.spec_id, index);
    if (!event.ok()) {
      return event.status().with_context(
          fmt::format("record {} at offset {}", index, record_offset));
    }
    log.events.push_back(std::move(event).value());
    ++index;
  }
  log.end_offset = reader.offset();
  return log;
}

Result<bool> digest_matches_event_data(const TcgEvent& event) {
  if (event.digests.empty()) return false;
  for (const auto& entry : event.digests) {
    auto algorithm = tcg_algorithm_to_digest(entry.algorithm_id);
    if (!algorithm) return false;
    CCFDE_ASSIGN_OR_RETURN(auto computed, digest(*algorithm, event.data));
    if (computed != entry.digest) return false;
  }
  return true;
}

}  // namespace ccfde::measure
