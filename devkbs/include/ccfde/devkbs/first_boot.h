// SPDX-License-Identifier: Apache-2.0
// devkbs's once-per-VM first-boot rule for provisioner (per-VM) keys (docs/BROKER-POLICY.md, "First
// boot of a per-VM volume"). An agent that finds its per-VM state partition blank extends RTMR3
// with the first-boot event (measure::kFirstBootEventPrefix + id, measure/runtime_event.h) before
// it fetches the key; a boot interrupted before the volume was complete repeats the same id. The
// host can blank the disk at any later boot to force another "first boot" (a rollback of the VM's
// state to empty), so the broker keeps, per VM, the id of the first boot it released the key to
// and whether the VM has since unlocked its volume normally (without the event), and refuses
// every other first boot. Trustee has no such rule.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ccfde/common/status.h"
#include "ccfde/devkbs/policy.h"

namespace ccfde::devkbs {

// The name of the record file next to the VM's key: provisioner/default/<uuid>/first-boot.json.
inline constexpr std::string_view kFirstBootRecordFile = "first-boot.json";

// The per-VM record: {"id": "<32 lowercase hex digits>", "established": <bool>}, "id" absent
// until a first boot was released.
struct FirstBootRecord {
  std::optional<std::string> id;  // the first boot the key was released to
  bool established = false;       // the VM unlocked its volume once without a first-boot event

  bool operator==(const FirstBootRecord&) const = default;
};

// Parses the record file's text. kMalformed naming the problem: not JSON, not an object, an
// unknown member, "established" missing or not a boolean, "id" not a string of
// measure::kFirstBootIdSize lowercase hex digits.
Result<FirstBootRecord> parse_first_boot_record(std::string_view text);

// The record file's text (parse_first_boot_record gives `record` back).
std::string first_boot_record_text(const FirstBootRecord& record);

// The VM's record after its provisioner key at `resource_path` ("default/<uuid>/root") is
// released to a guest with `claims`, given its record so far (`current`, nullopt when it has none):
//   - claims with conflicting first-boot ids: denied;
//   - a first-boot id X: denied when the record is established or holds another id; otherwise
//     the record with id X (unchanged when it already holds X: an interrupted first boot retried);
//   - no first-boot id: the record, established (the first normal unlock ends the first boot).
// Denials are kPolicyDenied, "Access denied by policy: " naming `resource_path`, the id and why.
Result<FirstBootRecord> admit_first_boot(const std::optional<FirstBootRecord>& current,
                                         const AttestedClaims& claims,
                                         std::string_view resource_path);

}  // namespace ccfde::devkbs
