// SPDX-License-Identifier: Apache-2.0
// TCG PC Client crypto-agile event logs (TCG PFP §10, docs/reference/MEASUREMENT-FORMATS.md
// §4.2–§4.3): the format of both the TDX CC event log (CCEL data) and the TPM2 log
// (/sys/kernel/security/tpm0/binary_bios_measurements).
//
// The parser reads the legacy SHA-1 TCG_PCR_EVENT header carrying the Spec ID Event03, then
// TCG_PCR_EVENT2 records with one digest per bank declared in the header. It does not interpret
// digests; event data is decoded for display only and stays untrusted until it has been checked
// against the digest (see digest_matches_event_data).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

// TCG algorithm registry identifiers that may appear in event logs.
inline constexpr std::uint16_t kTcgAlgSha1 = 0x0004;
inline constexpr std::uint16_t kTcgAlgSha256 = 0x000B;
inline constexpr std::uint16_t kTcgAlgSha384 = 0x000C;
inline constexpr std::uint16_t kTcgAlgSha512 = 0x000D;
inline constexpr std::uint16_t kTcgAlgSm3_256 = 0x0012;

// "sha1", "sha256", "sha384", "sha512", "sm3_256"; nullopt for any other id.
std::optional<std::string_view> tcg_algorithm_name(std::uint16_t algorithm_id) noexcept;
// The digest size of a known algorithm id; nullopt for any other id.
std::optional<std::size_t> tcg_algorithm_digest_size(std::uint16_t algorithm_id) noexcept;
// The OpenSSL-backed DigestAlgorithm for an id (nullopt for SM3 and unknown ids).
std::optional<DigestAlgorithm> tcg_algorithm_to_digest(std::uint16_t algorithm_id) noexcept;
// The TCG id of a DigestAlgorithm.
std::uint16_t tcg_algorithm_from_digest(DigestAlgorithm algorithm) noexcept;

// Event types (TCG PFP §10.4.1).
inline constexpr std::uint32_t kEvPrebootCert = 0x00;
inline constexpr std::uint32_t kEvPostCode = 0x01;
inline constexpr std::uint32_t kEvUnused = 0x02;
inline constexpr std::uint32_t kEvNoAction = 0x03;
inline constexpr std::uint32_t kEvSeparator = 0x04;
inline constexpr std::uint32_t kEvAction = 0x05;
inline constexpr std::uint32_t kEvEventTag = 0x06;
inline constexpr std::uint32_t kEvSCrtmContents = 0x07;
inline constexpr std::uint32_t kEvSCrtmVersion = 0x08;
inline constexpr std::uint32_t kEvCpuMicrocode = 0x09;
inline constexpr std::uint32_t kEvPlatformConfigFlags = 0x0A;
inline constexpr std::uint32_t kEvTableOfDevices = 0x0B;
inline constexpr std::uint32_t kEvCompactHash = 0x0C;
inline constexpr std::uint32_t kEvIpl = 0x0D;
inline constexpr std::uint32_t kEvIplPartitionData = 0x0E;
inline constexpr std::uint32_t kEvNonhostCode = 0x0F;
inline constexpr std::uint32_t kEvNonhostConfig = 0x10;
inline constexpr std::uint32_t kEvNonhostInfo = 0x11;
inline constexpr std::uint32_t kEvOmitBootDeviceEvents = 0x12;
inline constexpr std::uint32_t kEvEfiEventBase = 0x80000000;
inline constexpr std::uint32_t kEvEfiVariableDriverConfig = 0x80000001;
inline constexpr std::uint32_t kEvEfiVariableBoot = 0x80000002;
inline constexpr std::uint32_t kEvEfiBootServicesApplication = 0x80000003;
inline constexpr std::uint32_t kEvEfiBootServicesDriver = 0x80000004;
inline constexpr std::uint32_t kEvEfiRuntimeServicesDriver = 0x80000005;
inline constexpr std::uint32_t kEvEfiGptEvent = 0x80000006;
inline constexpr std::uint32_t kEvEfiAction = 0x80000007;
inline constexpr std::uint32_t kEvEfiPlatformFirmwareBlob = 0x80000008;
inline constexpr std::uint32_t kEvEfiHandoffTables = 0x80000009;
inline constexpr std::uint32_t kEvEfiPlatformFirmwareBlob2 = 0x8000000A;
inline constexpr std::uint32_t kEvEfiHandoffTables2 = 0x8000000B;
inline constexpr std::uint32_t kEvEfiVariableBoot2 = 0x8000000C;
inline constexpr std::uint32_t kEvEfiHcrtmEvent = 0x80000010;
inline constexpr std::uint32_t kEvEfiVariableAuthority = 0x800000E0;
inline constexpr std::uint32_t kEvEfiSpdmFirmwareBlob = 0x800000E1;
inline constexpr std::uint32_t kEvEfiSpdmFirmwareConfig = 0x800000E2;

// The TCG name of an event type ("EV_EFI_ACTION"); "UNKNOWN" for values outside the tables.
std::string_view event_type_name(std::uint32_t event_type) noexcept;

// EV_EVENT_TAG tagged-event ids with a known meaning (§4.7: docs/reference/MEASUREMENT-FORMATS.md).
inline constexpr std::uint32_t kTaggedEventLinuxInitrd = 0x8F3B22EC;
inline constexpr std::uint32_t kTaggedEventLinuxLoadOptions = 0x8F3B22ED;
inline constexpr std::uint32_t kTaggedEventAael = 0x4141454C;  // attestation-agent records (§4.7)

// pcrIndex value that marks the start of the 0xFF padding of a CCEL log area.
inline constexpr std::uint32_t kPaddingRegisterIndex = 0xFFFFFFFF;

// ---- CC MR index <-> TDX register <-> TPM PCR (docs/reference/MEASUREMENT-FORMATS.md §4.3) ----

// Number of RTMRs; RTMR i has CC MR index i + 1.
inline constexpr std::uint32_t kRtmrCount = 4;
// The RTMR index (0..3) of a CC MR index (1..4); nullopt for 0 (MRTD) and values above 4.
std::optional<std::uint32_t> rtmr_index_from_cc_mr_index(std::uint32_t cc_mr_index) noexcept;
// The CC MR index (1..4) of an RTMR index; nullopt above 3.
std::optional<std::uint32_t> cc_mr_index_from_rtmr_index(std::uint32_t rtmr_index) noexcept;
// The CC MR index a TPM PCR maps to: 0 -> 0 (MRTD), 1 and 7 -> 1, 2..6 -> 2, 8..15 -> 3;
// nullopt for PCRs without a CC register (16..23).
std::optional<std::uint32_t> cc_mr_index_from_pcr(std::uint32_t pcr) noexcept;
// "MRTD", "RTMR0".."RTMR3" for CC MR indices 0..4; "unknown" otherwise.
std::string_view cc_mr_register_name(std::uint32_t cc_mr_index) noexcept;

// ---- Parsed structures ----

struct AlgorithmSize {
  std::uint16_t algorithm_id = 0;
  std::uint16_t digest_size = 0;
};

// TCG_EfiSpecIDEvent ("Spec ID Event03").
struct SpecIdEvent {
  std::string signature;  // "Spec ID Event03" (NUL removed)
  std::uint32_t platform_class = 0;
  std::uint8_t spec_version_minor = 0;
  std::uint8_t spec_version_major = 0;
  std::uint8_t spec_errata = 0;
  std::uint8_t uintn_size = 0;  // 1 = UINT32, 2 = UINT64
  std::vector<AlgorithmSize> algorithms;
  Bytes vendor_info;
};

struct EventDigest {
  std::uint16_t algorithm_id = 0;
  Bytes digest;
};

struct EfiGuidPointer {
  std::string guid;
  std::uint64_t pointer = 0;
};

// Decoded event data, by event type. Decoding is for display; see the file comment.

// EV_EFI_VARIABLE_DRIVER_CONFIG / _BOOT / _BOOT2 / _AUTHORITY: UEFI_VARIABLE_DATA.
struct UefiVariableEvent {
  std::string variable_guid;  // e.g. "8be4df61-93ca-11d2-aa0d-00e098032b8c"
  std::string name;           // UnicodeName as UTF-8, e.g. "SecureBoot"
  Bytes data;                 // VariableData
};
// EV_EFI_PLATFORM_FIRMWARE_BLOB (no description) / _BLOB2.
struct FirmwareBlobEvent {
  std::optional<std::string> description;  // e.g. "Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)"
  std::uint64_t base = 0;
  std::uint64_t length = 0;
};
// EV_EFI_HANDOFF_TABLES (no description) / _TABLES2.
struct HandoffTablesEvent {
  std::optional<std::string> description;  // e.g. "TdxTable"
  std::vector<EfiGuidPointer> tables;
};
// EV_EFI_BOOT_SERVICES_APPLICATION / _DRIVER, EV_EFI_RUNTIME_SERVICES_DRIVER:
// UEFI_IMAGE_LOAD_EVENT.
struct ImageLoadEvent {
  std::uint64_t image_location = 0;
  std::uint64_t image_length = 0;
  std::uint64_t image_link_time_address = 0;
  Bytes device_path;
};
// EV_SEPARATOR.
struct SeparatorEvent {
  std::uint32_t value = 0;  // 0 normally, 0xFFFFFFFF on error
};
// Text events: EV_ACTION, EV_EFI_ACTION, EV_IPL, EV_PLATFORM_CONFIG_FLAGS, EV_POST_CODE,
// EV_S_CRTM_VERSION (UTF-16), EV_COMPACT_HASH, EV_OMIT_BOOT_DEVICE_EVENTS, and EV_NO_ACTION
// payloads with a text signature. Trailing NULs are removed.
struct TextEvent {
  std::string text;
};
// EV_EVENT_TAG: TCG_PCClientTaggedEvent.
struct TaggedEvent {
  std::uint32_t tagged_event_id = 0;
  Bytes tagged_data;
  std::optional<std::string> text;  // the tagged data when printable (AAEL records, Linux tags)
};
// EV_NO_ACTION "StartupLocality\0" + u8.
struct StartupLocalityEvent {
  std::uint8_t locality = 0;
};

using DecodedEventData =
    std::variant<std::monostate, UefiVariableEvent, FirmwareBlobEvent, HandoffTablesEvent,
                 ImageLoadEvent, SeparatorEvent, TextEvent, TaggedEvent, StartupLocalityEvent>;

struct TcgEvent {
  std::size_t index = 0;             // record number; 0 is the Spec ID header record
  std::size_t offset = 0;            // byte offset of the record in the log
  std::size_t size = 0;              // record size in bytes
  std::uint32_t register_index = 0;  // pcrIndex field: CC MR index (CCEL) or PCR (TPM)
  std::uint32_t event_type = 0;
  std::vector<EventDigest> digests;  // one per bank, in record order (header: one SHA-1 digest)
  Bytes data;
  DecodedEventData decoded;
  std::string decode_error;  // why `data` could not be decoded for its type ("" if it could)

  // The digest of bank `algorithm_id`, or nullptr.
  const Bytes* digest_for(std::uint16_t algorithm_id) const noexcept;
};

// How the log ended.
enum class LogEnd {
  kEndOfData,  // the last record ends exactly at the end of the input
  kPadding,    // a 0xFF fill (pcrIndex 0xFFFFFFFF) starts at end_offset and runs to the end
};

struct TcgEventLog {
  TcgEvent header;  // the legacy TCG_PCR_EVENT record carrying the Spec ID Event03
  SpecIdEvent spec_id;
  std::vector<TcgEvent> events;  // the TCG_PCR_EVENT2 records, in log order
  std::size_t end_offset = 0;    // offset just past the last record (where padding starts)
  LogEnd end = LogEnd::kEndOfData;
  std::size_t input_size = 0;
};

// Parses a crypto-agile event log. The first record must be a TCG_PCR_EVENT of type
// EV_NO_ACTION whose data is a Spec ID Event03 (any pcrIndex: TDVF writes 1); every following
// record is a TCG_PCR_EVENT2 carrying exactly one digest per algorithm of the Spec ID table.
// Parsing stops at the end of the input or at a record whose pcrIndex is 0xFFFFFFFF (or fewer
// than 4 bytes that are all 0xFF); every byte from there to the end must be 0xFF.
// Errors: kTruncated (a record or a declared size runs past the end), kMalformed (header is not a
// Spec ID Event03, sizes in the Spec ID event inconsistent, digest count differs from the number
// of banks, duplicate or undeclared bank in a record, digest size of a known algorithm wrong,
// bytes after the end that are not 0xFF), kUnsupportedAlgorithm (an algorithm id not in the TCG
// list above, in the header or a record), kUnsupportedVersion (a TPM 1.2 SHA-1-only log, spec
// version major other than 2, uintnSize other than 1 or 2). Messages name the record, its offset
// and expected vs found values. Undecodable event data is not an error (see decode_error).
Result<TcgEventLog> parse_tcg_event_log(std::span<const std::uint8_t> bytes);

// True when every digest of `event` equals the hash of its whole event data (the events whose
// digest covers their data: EV_SEPARATOR, EV_EFI_ACTION, EV_EFI_VARIABLE_DRIVER_CONFIG,
// EV_EFI_VARIABLE_AUTHORITY, EV_EFI_GPT_EVENT, AAEL tags, ...); false otherwise, including
// events without digests or with an SM3 digest. kCryptoError only if OpenSSL fails.
Result<bool> digest_matches_event_data(const TcgEvent& event);

// JSON of an event: index, offset, size, register_index, (for CCEL) cc register name, type,
// type_name, digests [{algorithm_id, algorithm, digest}], data (hex), decoded, decode_error.
// `cc_log` selects whether register_index is named as a CC MR index ("RTMR0") in "register".
nlohmann::json to_json(const TcgEvent& event, bool cc_log = false);
nlohmann::json to_json(const SpecIdEvent& spec_id);
// JSON of a log: spec_id, header, events, event_count, end_offset, end ("end_of_data" or
// "padding"), input_size.
nlohmann::json to_json(const TcgEventLog& log, bool cc_log = false);

}  // namespace ccfde::measure
