// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: the files of an emulated TDX platform (a throwaway PCK chain, a CCEL table and log,
// the register values its quotes carry) and the guest tree the agent reads them from (and the
// guest tree of the SEV-SNP mode, whose platform is snp_platform.h).
//
// MRCONFIGID: on real TDX the VMM sets it at launch (QEMU's `-object tdx-guest,mrconfigid=...`),
// and Trustee binds init-data to it (MRCONFIGID = SHA-384 of the init-data document). Here the
// host hands it over as the optional fw_cfg item `opt/cc-fde/tdx-boot/mrconfigid` (the file
// `mrconfigid` of read_fw_cfg_boot's directory): the 48 raw bytes of the digest, which the host
// writes itself (`openssl dgst -sha384 -binary INIT-DATA >FILE`); write_boot_measurements does
// not write it. Without it MRCONFIGID is zero.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"
#include "ccfde/measure/direct_boot.h"
#include "ccfde/testing/sample_evidence.h"

namespace ccfde::tdx_emu {

using Register = std::array<std::uint8_t, 48>;

struct EmulatedPlatform {
  testing::SamplePckChain chain;
  Register mr_td{};
  Register mr_config_id{};  // zero unless the host passed one (read_fw_cfg_boot)
  std::array<Register, 4> rtmr{};
  Bytes ccel_table;  // the ACPI CCEL table (56 bytes)
  Bytes ccel_data;   // the CC event log area it points at
};

inline constexpr std::string_view kDefaultMrTdSeed = "cc-fde e2e td";

// A fresh platform: a new test PCK chain, MRTD = SHA-384(`mr_td_seed`), the sample boot events
// as CCEL (padded with 0xFF to a 64 KiB log area, as OVMF reserves) and RTMR0..3 = their
// replay. The table and log are checked with measure's own CCEL and event-log parsers, and its
// replay must give the same RTMRs (kInternal otherwise).
Result<EmulatedPlatform> make_platform(std::string_view mr_td_seed);

// Writes DIR/chain.pem (mode 0600: private keys), root.pem, ccel-table.bin, ccel-data.bin and
// reference.json ({"mr_td", "rtmr0".."rtmr3"} in hex: a devkbs policy's "tdx" object). Creates
// DIR (mode 0700) when absent. kIoError when a file cannot be written.
Status write_platform(const EmulatedPlatform& platform, const std::filesystem::path& dir);

// Reads what write_platform wrote. Errors: kNotFound (a file is absent), kMalformed (chain.pem or
// reference.json is not what write_platform writes), the CCEL parser's errors for
// ccel-table.bin, kMalformed when the table's log area length differs from ccel-data.bin's size.
// The log itself is not checked, so a deliberately broken platform can be served.
Result<EmulatedPlatform> read_platform(const std::filesystem::path& dir);

// `platform` booted directly by OVMF/TDVF as `prediction` (measure::predict_qemu_direct_boot)
// says: the emulation plays the firmware and the kernel's EFI stub. The CCEL holds the platform's
// firmware events (RTMR0) and the predicted RTMR1/RTMR2 events in log order; RTMR3 starts empty.
// Same chain, MRTD and MRCONFIGID. kInternal when measure's replay of the log disagrees with the
// registers.
Result<EmulatedPlatform> measured_boot_platform(EmulatedPlatform platform,
                                                const measure::DirectBootPrediction& prediction);

// Writes what the host passes to the guest for one measured boot into DIR (created when absent):
// ccel-table.bin, ccel-data.bin, reference.json (as write_platform) and cmdline (the command line
// measured, without a newline). kIoError when a file cannot be written.
Status write_boot_measurements(const EmulatedPlatform& platform, std::string_view cmdline,
                               const std::filesystem::path& dir);

// A measured boot as the guest sees it through QEMU's fw_cfg (`-fw_cfg name=PREFIX/NAME,file=...`
// for each file of write_boot_measurements, and optionally for `mrconfigid`): DIR/NAME/raw below
// qemu_fw_cfg's /sys/firmware/qemu_fw_cfg/by_name/PREFIX. `platform` (its chain) with the CCEL
// and registers read there, MRCONFIGID from DIR/mrconfigid/raw (exactly 48 raw bytes; zero when
// DIR/mrconfigid is absent), and the measured command line. Errors: as read_platform, kMalformed
// for a command line with a NUL or a line break, kMalformed naming the file and its size for an
// mrconfigid of another size than 48 bytes.
struct FwCfgBoot {
  EmulatedPlatform platform;
  std::string cmdline;
};
Result<FwCfgBoot> read_fw_cfg_boot(EmulatedPlatform platform, const std::filesystem::path& dir);

// The mount points install_guest_tree makes below a platform root.
struct GuestTree {
  std::filesystem::path report;        // sys/kernel/config/tsm/report (configfs-tsm)
  std::filesystem::path measurements;  // sys/devices/virtual/misc/tdx_guest/measurements
};

// Creates under `root` what the agent reads besides the two FUSE mounts: sys/firmware/acpi/tables/
// CCEL and .../data/CCEL (mode 0400), proc/cpuinfo (mode 0444, flags with tdx_guest and
// hypervisor), and the empty directories to mount configfs-tsm's report directory and the sysfs
// measurement registers on, and sys/firmware/dmi, a link to the firmware's own /sys/firmware/dmi
// (SMBIOS: the init-data OEM string). Existing files are replaced. kIoError on failure.
Result<GuestTree> install_guest_tree(const EmulatedPlatform& platform,
                                     const std::filesystem::path& root);

// The SEV-SNP guest's tree below `root`: proc/cpuinfo (mode 0444, an AMD CPU whose flags have
// sev, sev_es, sev_snp and hypervisor, no tdx_guest) and the empty directory to mount
// configfs-tsm's report directory on; `measurements` is empty (SNP has no runtime measurement
// registers), and the sys/firmware/dmi link as above. kIoError on failure.
Result<GuestTree> install_snp_guest_tree(const std::filesystem::path& root);

// A TDX quote v4 of `platform` (its MRTD and MRCONFIGID) with `rtmr` (the registers now) and
// `report_data`, signed through its chain.
Bytes quote_for(const EmulatedPlatform& platform, const std::array<Register, 4>& rtmr,
                std::span<const std::uint8_t, 64> report_data);

}  // namespace ccfde::tdx_emu
