// SPDX-License-Identifier: Apache-2.0
// Runtime event-log records (Attestation-Agent event log, AAEL): the TCG_PCR_EVENT2 records a
// guest appends to /run/attestation-agent/eventlog when it extends RTMR3, in the layout Trustee's
// attester and verifier use (guest-components, attestation-agent/attester/src/tdx/mod.rs; the
// replay in measure/replay.h), and the events cc-fde itself records there.
//
// A record (little-endian):
//   u32 pcrIndex = 4 (CC MR index of RTMR3) | u32 eventType = 6 (EV_EVENT_TAG) |
//   u32 digestCount = 1 | u16 algorithm = 0x000C (SHA-384) | 48-byte digest |
//   u32 eventSize | event data
// event data = u32 taggedEventID 0x4141454C ("AAEL") | u32 size of the text | text
// digest = SHA-384(event data); RTMR3 := SHA-384(RTMR3 || digest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::measure {

// The CC measurement-register index of RTMR3 in CCEL and runtime event-log records.
inline constexpr std::uint32_t kRtmr3CcMrIndex = 4;

// The text of the event that ends the initramfs unlock phase: extended into RTMR3 before
// switch-root, before a hand-off to the passphrase prompt and before a failed boot ends. It is
// constant, so that a key broker recognises it in the replayed runtime event log and refuses keys
// meant only for the initramfs to whatever runs after it (docs/ARCHITECTURE.md, threat model).
inline constexpr std::string_view kPhaseEndEventText = "cc-fde phase-end initramfs-unlock";

// The first-boot event: before an agent fetches the key of a volume it is about to create (the
// first boot of a per-VM state partition, docs/FIRST-BOOT.md), it extends RTMR3 with
// kFirstBootEventPrefix + a first-boot id: 32 lowercase hex digits (16 random bytes) chosen when
// the partition was found blank and kept in its pending LUKS2 header, so that a boot interrupted
// before the volume was complete repeats the same id. A broker lets each VM complete one first boot
// (one id) and none after the VM's first normal unlock.
inline constexpr std::string_view kFirstBootEventPrefix = "cc-fde first-boot ";
inline constexpr std::size_t kFirstBootIdSize = 32;

// Whether `id` is a first-boot id: exactly kFirstBootIdSize characters of [0-9a-f].
bool is_first_boot_id(std::string_view id) noexcept;

// kFirstBootEventPrefix + `id`. Precondition: is_first_boot_id(id) (else kInvalidArgument).
Result<std::string> first_boot_event_text(std::string_view id);

// The id of a first-boot event text: the rest of `text` after kFirstBootEventPrefix when that is
// a first-boot id; nullopt for any other text (another event, a malformed id).
std::optional<std::string> first_boot_id_of(std::string_view text);

// The AAEL event data of `text`: u32le 0x4141454C | u32le size | text.
std::vector<std::uint8_t> aael_event_data(std::string_view text);

// The complete TCG_PCR_EVENT2 record of `text` for RTMR3 (layout above) and its digest.
struct AaelRecord {
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint8_t> digest;  // 48 bytes, SHA-384 of the event data
};
// Errors: kCryptoError if OpenSSL fails.
Result<AaelRecord> make_aael_record(std::string_view text);

// The AAEL text of `event` when it is an RTMR3 EV_EVENT_TAG record with tag "AAEL" whose SHA-384
// digest matches its data (so the text is what was extended), else nullopt.
std::optional<std::string> verified_aael_text(const TcgEvent& event);

}  // namespace ccfde::measure
