// SPDX-License-Identifier: Apache-2.0
// Recording what this VM unlocked, and when the initramfs unlock phase ended.
//
// After a successful unlock, fde-agent extends RTMR3 with the digest of an Attestation-Agent
// event-log (AAEL) record describing the volume, and appends that record to the runtime event log
// that Trustee's attester sends along with the CCEL (docs/reference/TRUSTEE-KBS-PROTOCOL.md §3.9,
// §3.10), so later attestations show which disk this VM opened and the verifier's replay of RTMR3
// still matches. When the initramfs unlock phase ends (before switch-root, a prompt hand-off or the
// end of a failed boot), the constant record measure::kPhaseEndEventText is recorded the same way,
// once per boot; a broker refuses keys meant only for the initramfs once it sees that event in the
// replayed log (docs/ARCHITECTURE.md, threat model).
//
// The record (one TCG_PCR_EVENT2, little-endian; measure/runtime_event.h):
//   u32 pcrIndex = 4 (CC MR index of RTMR3) | u32 eventType = 6 (EV_EVENT_TAG) |
//   u32 digestCount = 1 | u16 algorithm = 0x000C (SHA-384) | 48-byte digest |
//   u32 eventSize | event data
// event data = u32 taggedEventID 0x4141454C ("AAEL") | u32 size of the text | text
// unlock text = "cc-fde unlock " + compact JSON with sorted keys (JCS for these values), e.g.
//   cc-fde unlock {"binding":"5d1e...","profile":"default","resource":"default/fde/root",
//                  "token":0,"uuid":"0b1c..."}
// phase-end text = "cc-fde phase-end initramfs-unlock"
// digest = SHA-384(event data); RTMR3 := SHA-384(RTMR3 || digest).
// No secret goes into a record: the key itself is never described, only where it came from and a
// one-way binding to it (volume_binding).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"
#include "ccfde/measure/runtime_event.h"

namespace ccfde::agent {

inline constexpr std::string_view kUnlockEventDomain = "cc-fde";
inline constexpr std::string_view kUnlockEventOperation = "unlock";

// The label of the volume binding's key derivation (HKDF info).
inline constexpr std::string_view kVolumeBindingKdfInfo = "cc-fde unlock record v1";
// The binding's message is this prefix followed by the volume UUID.
inline constexpr std::string_view kVolumeBindingLabelPrefix = "cc-fde:volume:";
inline constexpr std::size_t kVolumeBindingSize = 32;

// The binding of an unlock record to the volume key, so that the record differs when the unlocked
// volume differs even if a copied header reproduces every header field:
//   HMAC-SHA256(key = HKDF-SHA256(IKM = volume key, no salt, info = kVolumeBindingKdfInfo, L = 32),
//               message = "cc-fde:volume:" + volume_uuid)
// This follows systemd's PCR 15 measurement of a LUKS volume, which extends HMAC-SHA256 keyed with
// the volume key over "cryptsetup:" + volume name + ":" + UUID (systemd/systemd:
// src/cryptsetup/cryptsetup.c measure_volume_key() at 2557246cc8e616977cc233f92b4e7fbc45d0946f,
// which passes the volume key as the HMAC secret of tpm2_pcr_extend_bytes();
// docs/TPM2_PCR_MEASUREMENTS.md "PCR 15, volume key" at
// 78ed1e973c97e3ad62d10f676a62765f61cb43c0). cc-fde keys the HMAC with a key derived for this one
// purpose (HKDF) rather than with the volume key itself. The derived key
// lives in SecretBytes and is wiped before returning; the result is not secret (it reveals nothing
// about the key) and goes into the public event log. Errors: kInvalidArgument (empty volume key),
// kCryptoError (OpenSSL failed).
Result<std::vector<std::uint8_t>> volume_binding(std::span<const std::uint8_t> volume_key,
                                                 std::string_view volume_uuid);

struct UnlockedVolume {
  std::string volume_uuid;
  std::string profile;
  std::string resource;
  int token = 0;  // the LUKS2 token id of the cc-fde token used
  // volume_binding(volume key, volume_uuid): 32 bytes. Empty by default, and then refused.
  std::vector<std::uint8_t> binding{};
};

// "cc-fde unlock {"binding":"<64 hex>","profile":...,"resource":...,"token":N,"uuid":...}" (the
// AAEL text of `volume`). Errors: kInvalidArgument when the binding is not 32 bytes, or when the
// UUID, profile or resource is not valid UTF-8 or holds a control character (C0, DEL or C1); the
// message names the member. A record that cannot be written fails that volume: the caller must
// not treat the volume as unlocked.
Result<std::string> unlock_event_text(const UnlockedVolume& volume);

struct UnlockMeasurementOptions {
  // Prefix of the kernel interface and runtime event-log paths ("" or "/" = the real system; a
  // temp dir in tests).
  std::filesystem::path root;
  // The directory of the phase-end marker <run_dir>/cc-fde/phase-ended, used as is (not under
  // `root`).
  std::filesystem::path run_dir = "/run";
};

enum class MeasureResult {
  kMeasured,         // record appended and RTMR3 extended
  kUnsupported,      // RTMR3 cannot be extended here (no TDX guest, or kernel < 6.16): no record
  kAlreadyRecorded,  // measure_phase_end only: the phase end was already claimed in this boot
};

// The kernel requirement for extending RTMR3 from user space, for messages.
inline constexpr std::string_view kRtmr3KernelRequirement =
    "Linux 6.16 or later with the TDX guest driver's TSM measurement registers; the Debian 12 "
    "kernel lacks it";

// OK when <measurements>/rtmr3:sha384 (measure::PlatformPaths::rooted_at(options.root)) exists
// and this process may write it. Errors: kUnsupported, naming the path, whether it is missing or
// not writable, and kRtmr3KernelRequirement.
Status rtmr3_extension_available(const UnlockMeasurementOptions& options = {});

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

// The path of the phase-end marker: <options.run_dir>/cc-fde/phase-ended.
std::filesystem::path phase_end_marker(const UnlockMeasurementOptions& options = {});

// Ends the initramfs unlock phase: records measure::kPhaseEndEventText like measure_unlock records
// an unlock (same log, same RTMR3, same truncate-back on a failed extend), at most once per boot.
// The claim is the marker phase_end_marker(options), created with O_CREAT|O_EXCL|O_NOFOLLOW (mode
// 0644, its directory 0755) before anything is extended, so a second call, from another unit or
// another path through the boot, does nothing and returns kAlreadyRecorded. Without the RTMR3
// interface (see measure_unlock) it returns kUnsupported and keeps the marker, so later code can
// still tell that the phase ended (phase_ended). If appending or extending fails, the marker is
// removed again so that a retry can record the event; the error is returned and the caller must
// end the boot (fail closed). A crash between the marker and the extend leaves the marker without
// the event: the crashed caller's unit fails, which ends the boot. A concurrent second call
// returns kAlreadyRecorded as soon as the first has created the marker, before its extend
// finished. Errors: kIoError (the marker cannot be created or its directory is not a directory, the
// log cannot be written, the kernel refused the extend), kCryptoError.
Result<MeasureResult> measure_phase_end(const UnlockMeasurementOptions& options = {});

// Records the first boot of a per-VM volume (first_boot.h): measure::first_boot_event_text(id),
// appended and extended like measure_unlock's record, before the volume's key is fetched, so the
// broker's replay of RTMR3 shows that this attestation is a first boot and which one. Returns
// kUnsupported, touching nothing, without the RTMR3 interface: the caller must then not fetch the
// key (a broker could not tell the first boot from a later blanked disk). Errors: kInvalidArgument
// (not a first-boot id), those of measure_unlock.
Result<MeasureResult> measure_first_boot(std::string_view id,
                                         const UnlockMeasurementOptions& options = {});

// Whether the phase-end marker exists (measure_phase_end claimed the phase end in this boot).
bool phase_ended(const UnlockMeasurementOptions& options = {});

}  // namespace ccfde::agent
