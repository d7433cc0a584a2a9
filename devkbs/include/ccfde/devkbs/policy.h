// SPDX-License-Identifier: Apache-2.0
// The resource policy of devkbs: a small JSON document instead of Trustee's Rego. Per resource
// path, the TEE types allowed to fetch it, the reference values their evidence must carry and
// whether debug guests may have it (never by default):
//
//   {"resources": {
//      "default/fde/disk-key": {"tees": ["tdx", "snp"], "allow_debug": false,
//                               "tdx": {"mr_td": "<hex>", "rtmr0": "<hex>", ..., "rtmr3": "<hex>",
//                                       "rtmr2": ["<hex>", "<hex>"]},
//                               "snp": {"measurement": "<hex>", "host_data": "<hex>"},
//                               "release_window": "initramfs"},
//      "*": {"tees": ["sample"]}}}
//
// "*" applies to every path without an entry of its own; a path with neither is denied. Every
// reference value given must equal the attested one (hex, any case); absent ones are not checked.
// A reference value may also be a non-empty array of such strings: the attested value must equal
// one of them (like a Trustee reference-value set), e.g. the RTMR2 of the old and the new initramfs
// while a fleet rolls out a new image.
//
// "release_window" (optional) closes the key-release window at the end of the initramfs unlock
// phase, marked by the runtime event measure::kPhaseEndEventText in RTMR3 (docs/BROKER-POLICY.md):
//   "initramfs"        released only while the phase is open. TDX: the evidence must carry an event
//                      log whose replay matched the quote's RTMRs, and that log must not hold the
//                      phase-end event. SEV-SNP (no runtime-extendable register): released only in
//                      the first attested session of the launch (REPORT_ID) that asks for such a
//                      resource (SnpLaunchWindows); a guest whose POLICY allows a migration
//                      agent is denied (migration can give the launch another REPORT_ID).
//                      sample: denied.
//   "after_initramfs"  released only after the phase: the replayed TDX log must hold the event.
//                      SEV-SNP and sample: denied (nothing can show the event).
//   absent             no check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/evidence_source.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::devkbs {

// What an attestation established about a guest, for the policy.
struct AttestedClaims {
  measure::TeeKind tee = measure::TeeKind::kNone;  // kTdx, kSnp, kSample once attested
  bool debug = false;                              // TDATTRIBUTES.DEBUG / SNP POLICY.DEBUG
  std::map<std::string, Bytes> values;  // "mr_td", "rtmr0".."rtmr3" / "measurement", "host_data"
  // TDX: the evidence carried a cc_eventlog and its replay matched the quote's RTMR0..3, so every
  // RTMR3 extend of this boot is in that log.
  bool event_log_replayed = false;
  // TDX: the record number (TcgEvent::index) of the first record of the replayed log whose
  // verified AAEL text (measure::verified_aael_text) is measure::kPhaseEndEventText; nullopt when
  // there is none or no log was replayed.
  std::optional<std::size_t> phase_end_event;
  // TDX: the id (measure::first_boot_id_of) of the first record of the replayed log whose verified
  // AAEL text is a first-boot event; nullopt when there is none or no log was replayed. Only
  // provisioner keys judge it (first_boot.h).
  std::optional<std::string> first_boot_id;
  // TDX: the id of the first later first-boot record of the replayed log whose id differs from
  // first_boot_id; a provisioner key is then refused. nullopt when every first-boot record agrees.
  std::optional<std::string> conflicting_first_boot_id;
  // SEV-SNP: REPORT_ID of the verified report (32 bytes, one per launch); empty for other TEEs.
  Bytes snp_report_id;
  // SEV-SNP: POLICY.MIGRATE_MA (a migration agent may move the guest, and REPORT_ID with it).
  bool snp_migrate_ma = false;
  // The `data` table of the init-data the guest sent, once its digest matched the register the
  // launch bound it to (MRCONFIGID on TDX, HOST_DATA on SEV-SNP); nullopt when none was sent.
  std::optional<std::map<std::string, std::string, std::less<>>> init_data;
};

// Fills the claims a TDX event log gives once its replay matched the quote's RTMRs (so that it
// holds every RTMR3 extend of the boot): event_log_replayed, phase_end_event, first_boot_id and
// conflicting_first_boot_id, from the records whose AAEL text is verified
// (measure::verified_aael_text: an RTMR3 record whose digest is that of its data). Never call it
// for a log that was not replayed against the quote.
void add_replayed_log_claims(std::span<const measure::TcgEvent> events, AttestedClaims& claims);

// When a resource may be released relative to the initramfs unlock phase (file comment).
enum class ReleaseWindow {
  kAny,             // "release_window" absent: no check
  kInitramfs,       // "initramfs"
  kAfterInitramfs,  // "after_initramfs"
};

struct ResourcePolicyEntry {
  std::vector<measure::TeeKind> tees;  // "tees": kTdx, kSnp, kSample
  bool allow_debug = false;
  // Per TEE (kTdx, kSnp: the "tdx" and "snp" members): reference value name -> the accepted
  // values (never empty; the attested value must be one of them).
  std::map<measure::TeeKind, std::map<std::string, std::vector<Bytes>>> reference_values;
  ReleaseWindow release_window = ReleaseWindow::kAny;
  // "init_data": init-data claims the guest must present, name -> exact value; a request without
  // verified init-data, or with another value, is denied.
  std::map<std::string, std::string, std::less<>> init_data;
};

struct ResourcePolicy {
  std::map<std::string, ResourcePolicyEntry> resources;  // path (or "*") -> entry
};

// The SEV-SNP substitute for the phase-end event: per launch (REPORT_ID), the session that first
// fetched an "initramfs"-window resource. Only that session may fetch such resources of the launch;
// every later session of the same launch comes after the initramfs. In memory only: a broker
// restart forgets every launch (a production broker must persist this). Bounded: it keeps the
// `capacity` most recently recorded launches and forgets the oldest beyond that, which reopens the
// window of a forgotten launch. Not thread-safe (the broker holds its lock).
class SnpLaunchWindows {
 public:
  static constexpr std::size_t kDefaultCapacity = 4096;

  // `capacity` 0 is treated as 1.
  explicit SnpLaunchWindows(std::size_t capacity = kDefaultCapacity);

  // OK and records `session_id` when the launch `report_id` has no session yet; OK when
  // `session_id` is the launch's recorded session; otherwise kPolicyDenied naming the resource and
  // the REPORT_ID. kInvalidArgument for an empty `report_id` or `session_id`.
  Status claim(std::span<const std::uint8_t> report_id, std::string_view session_id,
               std::string_view resource_path);

  // The recorded session of a launch, or nullopt.
  std::optional<std::string> session_of(std::span<const std::uint8_t> report_id) const;
  // The number of launches remembered.
  std::size_t size() const noexcept { return sessions_.size(); }

 private:
  std::size_t capacity_;
  std::map<Bytes, std::string> sessions_;  // REPORT_ID -> session id
  std::deque<Bytes> order_;                // REPORT_IDs, oldest first
};

// Parses the document above. kInvalidArgument naming the member that is missing, of the wrong
// type, an unknown TEE, an unknown reference-value name for its TEE, a value that is not hex of
// the register's size (48 bytes; SNP host_data 32 bytes) or an empty array of them, or a
// "release_window" that is not
// "initramfs" or "after_initramfs" (with the resource path and the value).
Result<ResourcePolicy> parse_resource_policy(const nlohmann::json& document);

// The document form of `policy` (parse_resource_policy(to_json(p)) gives p back;
// "release_window" appears only when it is not kAny; a reference value with one accepted value is
// a string, with several an array).
nlohmann::json to_json(const ResourcePolicy& policy);

// Decides whether a guest with `claims` may fetch `resource_path`. OK, or kPolicyDenied naming the
// reason: no entry for the path, TEE not allowed, debug guest, every reference value that matches
// none of its accepted values (each with the attested value and the accepted ones; reference
// values are public measurements), or the
// release window (file comment; the message names the phase-end event and, when the log shows
// it, its record number). The SEV-SNP "initramfs" rule needs `launches` and the id of the
// requesting session: it is applied last, after every other check passed, and then records the
// session in `launches`; with `launches` null such a request is denied, with an empty
// `session_id` it fails with kInvalidArgument.
Status evaluate_resource_policy(const ResourcePolicy& policy, const std::string& resource_path,
                                const AttestedClaims& claims, SnpLaunchWindows* launches = nullptr,
                                std::string_view session_id = {});

}  // namespace ccfde::devkbs
