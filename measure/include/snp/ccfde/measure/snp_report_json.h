// SPDX-License-Identifier: Apache-2.0
// The Trustee / virtee-sev JSON form of an SNP report (serde of virtee's AttestationReport), as a
// Trustee KBS expects it in `tee: "snp"` evidence (docs/reference/TEST-VECTORS.md §7.1, "E2E"):
//   integers for version, guest_svn, policy, vmpl, sig_algo, plat_info, key_info, cpuid_fam_id,
//   cpuid_mod_id, cpuid_step; arrays of integers for byte fields; TCBs as
//   {"fmc": null | n, "bootloader", "tee", "snp", "microcode"}; current/committed as
//   {"major", "minor", "build"}; signature as {"r": [72], "s": [72]} (little-endian as stored);
//   launch_mit_vector / current_mit_vector (integers) for version 5.
#pragma once

#include <nlohmann/json.hpp>

#include "ccfde/common/status.h"
#include "ccfde/measure/snp_report.h"

namespace ccfde::measure {

// Builds the report described by a Trustee `attestation_report` JSON object and validates it by
// serializing and re-parsing it, so the result is exactly what parse_snp_report gives for
// serialize_snp_report(result). TCBs are encoded with the layout of the CPUID family (the
// Milan/Genoa layout for version 2); a TCB's "fmc" must be null (or absent) for the Milan/Genoa
// layout and a number for the Turin layout. cpuid_* may be absent or null for version 2; the
// mitigation vectors may be absent or null (read as 0) for any version.
// Errors: kMalformed naming the member that is missing, of the wrong type, out of range or of the
// wrong array length; any error of parse_snp_report for the assembled bytes.
Result<SnpReport> snp_report_from_trustee_json(const nlohmann::json& object);

// The Trustee JSON form of `report` (the inverse of snp_report_from_trustee_json): cpuid_* are null
// for version 2, the mitigation-vector members appear only for version 5 and later.
nlohmann::json snp_report_to_trustee_json(const SnpReport& report);

}  // namespace ccfde::measure
