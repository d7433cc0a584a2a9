// SPDX-License-Identifier: Apache-2.0
// The first boot of a per-VM state partition (unlock.first_boot, docs/FIRST-BOOT.md): a generic
// image whose OS is protected by measurement carries an empty partition; at the VM's first boot
// the agent formats it as LUKS2 with the VM's own key from the broker (e.g. Trustee's provisioner
// key named by the init-data) before switch-root, and unlocks it like any cc-fde volume later.
//
// The partition is host-controlled like every disk. Its states:
//   blank        the first kBlankCheckBytes (or the whole device, if smaller) read as zeros
//   pending      LUKS2 whose subsystem is kFirstBootSubsystem and whose label is a first-boot id
//                (measure::is_first_boot_id): a first boot began and did not finish
//   established  any other LUKS2 header: unlocked through its cc-fde token like every volume
//   (anything else is refused: cc-fde never formats a partition that holds data)
//
// Steps, each safe to interrupt (a later boot finds the pending header and repeats the rest with
// the same id, which the broker lets through; it lets a VM through only one id and none after the
// VM's first normal unlock, so a host that blanks the partition later gets a refusal):
//   begin:    blank -> a pending header (a fresh id; a throwaway random key nobody keeps) before
//             anything leaves the VM, so that the id survives a crash after the key release
//   complete: RTMR3 gets measure::first_boot_event_text(id) -> the key is fetched (one attested
//             request whose evidence shows that event) -> the header is written anew (a fresh
//             volume key, keyslot opened by the key, label and subsystem still pending) -> the
//             cc-fde token -> activation -> the file system -> label and subsystem cleared: from
//             here on it is established.
// Nothing of the data area matters before that last step (the OS never ran on it), so repeating
// every step from a fresh header is always safe.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/agent/config.h"
#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {

inline constexpr std::size_t kBlankCheckBytes = std::size_t{1} << 20;

// The block device of the partition whose GPT name is `partlabel`: <sys_root>/class/block/*/uevent
// with PARTNAME=`partlabel`, as <dev_root>/<DEVNAME>. Errors: kNotFound (none), kMalformed (several
// partitions carry the name: the host's partition table is ambiguous, all are named).
Result<std::filesystem::path> find_partition_by_label(std::string_view partlabel,
                                                      const std::filesystem::path& sys_root,
                                                      const std::filesystem::path& dev_root);

enum class FirstBootState { kBlank, kPending, kEstablished };

struct FirstBootInspection {
  FirstBootState state = FirstBootState::kBlank;
  std::string id;  // kPending: the header's first-boot id
};

// What `device` holds (file comment). Errors: kNotFound, kIoError (cannot read it), kNotLuks2 (it
// is neither blank nor LUKS2: never formatted), kMalformed (a pending header whose label is not a
// first-boot id), the errors of LuksVolume::open for a LUKS2 header libcryptsetup refuses.
Result<FirstBootInspection> inspect_first_boot_volume(const std::filesystem::path& device);

// Writes the pending header on blank `device` (checked again first) with a fresh first-boot id,
// and returns the id. Errors: those of inspect_first_boot_volume; kInvalidArgument when `device`
// is not blank (nothing written); LuksVolume::format's; kCryptoError (no random id).
Result<std::string> begin_first_boot(const std::filesystem::path& device);

// What a completed first boot made.
struct FirstBootResult {
  std::string uuid;  // the new header's LUKS UUID
  int keyslot = -1;  // the keyslot the key opens
  int token = -1;    // the cc-fde token
};

// What complete_first_boot does outside the header (fde-agent: RTMR3, the broker, device-mapper,
// mkfs; tests: fakes).
struct FirstBootActions {
  // Records the first-boot event (measure_first_boot); an error stops before any key is fetched.
  std::function<Status(std::string_view id)> record_event;
  // The VM's key for the volume (an attested fetch of its resource).
  std::function<Result<SecretBytes>()> fetch_key;
  // Activates `volume` as /dev/mapper/`mapping` with `key`.
  std::function<Status(LuksVolume& volume, std::span<const std::uint8_t> key,
                       const std::string& mapping)>
      activate;
  // Records the unlock of the volume just activated as /dev/mapper/`mapping` (the RTMR3 unlock
  // record every unlocked volume gets). On an error the action has closed the mapping, and the
  // first boot stops before the file system.
  std::function<Status(const LuksVolume& volume, std::span<const std::uint8_t> key,
                       const FirstBootResult& done, const std::string& mapping)>
      record_unlock;
  // Makes `filesystem` on /dev/mapper/`mapping` (not called for "none").
  std::function<Status(const std::string& mapping, const std::string& filesystem)> make_filesystem;
};

// Completes the first boot of `device`, pending with `id` (file comment), for `volume`. The key is
// checked like a fetched enroll key (check_broker_key) before it is used. On return the volume is
// established, active and holds its file system. Errors: kUnfinishedOperation (the header is not
// pending with `id` any more), those of the actions (returned as they are, naming the step), of
// check_broker_key, of LuksVolume::format, set_token and set_label. After an error the header is
// still pending (or the step before the header write failed and nothing changed).
Result<FirstBootResult> complete_first_boot(const std::filesystem::path& device,
                                            std::string_view id, const FirstBootVolume& volume,
                                            const FirstBootActions& actions);

// The absolute path of the program that makes `filesystem` ("ext4": /usr/sbin/mkfs.ext4, "xfs":
// /usr/sbin/mkfs.xfs), or "" for "none" and unknown names.
std::filesystem::path mkfs_program(std::string_view filesystem);

// The arguments mkfs_program(`filesystem`) gets to make its file system on `device` without
// asking anything (-q, and -F for ext4 / -f for xfs: whatever a fresh mapping reads as is
// overwritten).
std::vector<std::string> mkfs_arguments(std::string_view filesystem, const std::string& device);

}  // namespace ccfde::agent
