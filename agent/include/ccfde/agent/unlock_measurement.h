// Recording what this VM unlocked: after a successful unlock, fde-agent extends RTMR3 with the
// digest of an Attestation-Agent event-log (AAEL) record describing the volume, and appends that
// record to the runtime event log that Trustee's attester sends along with the CCEL
// (kbs-protocol.md §3.9-§3.10), so later attestations show which disk this VM opened and the
// verifier's replay of RTMR3 still matches.
//
// The record (one TCG_PCR_EVENT2, little-endian):
//   u32 pcrIndex = 4 (CC MR index of RTMR3) | u32 eventType = 6 (EV_EVENT_TAG) |
//   u32 digestCount = 1 | u16 algorithm = 0x000C (SHA-384) | 48-byte digest |
//   u32 eventSize | event data
// event data = u32 taggedEventID 0x4141454C ("AAEL") | u32 size of the text | text
// text = "cc-fde unlock " + compact JSON with sorted keys (JCS for these values), e.g.
//   cc-fde unlock {"profile":"default","resource":"default/fde/root","token":0,"uuid":"0b1c..."}
// digest = SHA-384(event data); RTMR3 := SHA-384(RTMR3 || digest).
// No secret goes into a record: the key itself is never described, only where it came from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/measure/runtime_event.h"

namespace ccfde::agent {

inline constexpr std::string_view kUnlockEventDomain = "cc-fde";
inline constexpr std::string_view kUnlockEventOperation = "unlock";
// The runtime event log guest-components' attester appends to the CCEL (relative to the root).
inline constexpr std::string_view kRuntimeEventLogPath = "/run/attestation-agent/eventlog";

struct UnlockedVolume {
  std::string volume_uuid;
  std::string profile;
  std::string resource;
  int token = 0;  // the LUKS2 token id of the cc-fde token used
};

// "cc-fde unlock {"profile":...,"resource":...,"token":N,"uuid":...}" (the AAEL text of
// `volume`). Errors: kInvalidArgument when a member is not valid UTF-8 or holds a control
// character (tokens and headers are validated before this, so that means a caller bug).
Result<std::string> unlock_event_text(const UnlockedVolume& volume);

struct UnlockMeasurementOptions {
  // Prefix of every path below ("" or "/" = the real system; a temp dir in tests).
  std::filesystem::path root;
};

enum class MeasureResult {
  kMeasured,     // record appended and RTMR3 extended
  kUnsupported,  // RTMR3 cannot be extended here (no TDX guest, or kernel < 6.16): nothing done;
                 // the caller logs this at debug level
};

// Records the unlock of `volume`: appends its AAEL record to <root>/run/attestation-agent/eventlog
// (creating the directory 0755 and the file 0644; the log is not secret), then extends RTMR3 with
// the record's digest through measure::TdxMeasurementRegisters on the measurements directory of
// measure::PlatformPaths::rooted_at(root). If the extend fails, the log is truncated back to its
// previous length: RTMR3 is never extended without its record, and a failed extend leaves no
// record behind (only a crash between append and extend can leave an unmatched record). Appends are
// serialised (flock on the log plus a process-wide mutex). Returns kUnsupported, touching nothing,
// when <measurements>/rtmr3:sha384 does not exist. Errors: kIoError (cannot create/append/truncate
// the log, or the kernel refused the extend; after a failed truncate the message says the log now
// holds a record RTMR3 lacks), kInvalidArgument (see unlock_event_text), kCryptoError.
Result<MeasureResult> measure_unlock(const UnlockedVolume& volume,
                                     const UnlockMeasurementOptions& options = {});

}  // namespace ccfde::agent
