// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: an emulated AMD SEV-SNP platform for the VM test's `--tee snp` mode. Its VCEK is a
// throwaway key certified by a throwaway ARK -> ASK made by the test harness
// (tests/e2e/lib/snp.sh), so its reports prove nothing about any hardware. What the platform
// reports (CHIP_ID, the TCB SPLs, the product) is taken from the VCEK's AMD extensions, so that
// report and VCEK agree the way docs/reference/MEASUREMENT-FORMATS.md §3.3 step 4 checks them.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/snp_verify.h"
#include "tsm_report_model.h"

namespace ccfde::tdx_emu {

struct SnpPlatform {
  EvpPkeyPtr vcek_key;  // EC P-384 private key
  Bytes vcek_der;
  measure::SnpVcekExtensions vcek_extensions;
  std::array<std::uint8_t, 48> measurement{};
};

// The SNP report version the platform produces.
inline constexpr std::uint32_t kSnpEmuReportVersion = 3;
// POLICY: ABI 0.0, SMT allowed, bit 17 (reserved, must be one); DEBUG and MIGRATE_MA clear.
inline constexpr std::uint64_t kSnpEmuPolicy = 0x30000;

// Reads DIR/vcek-key.pem (a PKCS#8 EC P-384 private key), DIR/vcek.der (its certificate) and
// DIR/reference.json ({"measurement": 48 bytes of hex}, a devkbs policy's "snp" object).
// Errors: kNotFound (a file is absent), kMalformed (a file is not what the harness writes: the key
// not P-384 or not the certificate's, the extensions incomplete, the product unknown, hwID neither
// 64 nor 8 bytes, the measurement not 48 bytes of hex).
Result<SnpPlatform> read_snp_platform(const std::filesystem::path& dir);

// A signed ATTESTATION_REPORT (version kSnpEmuReportVersion, VCEK-signed) of `platform` for one
// launch (`report_id`, REPORT_ID_MA all 0xFF: no migration agent) at `vmpl`, with `report_data`,
// the platform's MEASUREMENT, POLICY kSnpEmuPolicy, CPUID of the VCEK's product, CURRENT,
// COMMITTED, LAUNCH and REPORTED_TCB from the VCEK's SPLs and CHIP_ID from its hwID. The bytes
// are parsed back with measure's parser before they are returned (kInternal if they do not parse).
Result<Bytes> snp_report_for(const SnpPlatform& platform,
                             const std::array<std::uint8_t, 32>& report_id, unsigned vmpl,
                             std::span<const std::uint8_t, kInblobSize> report_data);

// The GHCB certificate table (docs/reference/MEASUREMENT-FORMATS.md §3.5) the platform's auxblob
// holds: one VCEK entry, the all-zero terminator, then the VCEK's DER.
Bytes snp_certificate_table(const SnpPlatform& platform);

// A random REPORT_ID: one per launch of the emulated guest (kCryptoError if none can be drawn).
Result<std::array<std::uint8_t, 32>> new_snp_report_id();

}  // namespace ccfde::tdx_emu
