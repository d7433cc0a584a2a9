// SPDX-License-Identifier: Apache-2.0
// Which active cc-fde mappings the agent did not open itself ("opened outside the broker"): for
// `fdectl status` and the phase-end service.
//
// A cc-fde-bound mapping is an active LUKS2 dm-crypt mapping whose LUKS device carries a cc-fde
// token. Two sources tell which of them cc-fde opened in this boot:
// - the unlock marks in /run (unlock_marks.h), which fde-agent writes after each unlock and the
//   token plugin after it handed a volume's key to libcryptsetup. /run moves into the real root at
//   switch-root, so they are there under dracut and initramfs-tools alike;
// - the volume outcome entries fde-agent wrote to the journal (logging.h, read back by
//   read_unlock_records): under systemd only.
// A mapping is "opened by fde-agent" when an agent mark or an "unlocked" entry names the same
// mapping and the same LUKS UUID, "opened by the token plugin" when a token-plugin mark names its
// LUKS UUID (the plugin does not learn the mapping name), else it was opened outside the broker:
// with a passphrase or recovery key (`cryptsetup open`), or before the agent ran
// ("skipped-already-active"). Only when neither source can be read is there nothing to compare
// with.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ccfde/agent/logging.h"
#include "ccfde/agent/unlock_history.h"
#include "ccfde/agent/unlock_marks.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {

// An active LUKS2 dm-crypt mapping as device-mapper describes it.
struct CryptMapping {
  std::string name;              // /dev/mapper/<name>
  std::string luks_uuid;         // from the dm UUID, 8-4-4-4-12 lowercase
  std::filesystem::path device;  // the LUKS device under it, "" when unknown
};

// Where the mappings and their headers are read. The real one reads sysfs and the headers;
// tests use fakes.
class CryptMappingSource {
 public:
  virtual ~CryptMappingSource() = default;
  // Every active LUKS2 dm-crypt mapping. Errors: kNotFound (no device-mapper here), kIoError.
  virtual Result<std::vector<CryptMapping>> crypt_mappings() const = 0;
  // Whether the LUKS2 header on `device` carries a cc-fde token. Errors: LuksVolume::open's and
  // LuksVolume::tokens'.
  virtual Result<bool> carries_cc_fde_token(const std::filesystem::path& device) const = 0;
};

// The real source: every <sysfs_root>/block/dm-*/ whose dm/uuid is "CRYPT-LUKS2-<32 hex>-<name>"
// (libcryptsetup's form), its name from dm/name, its device the one entry of slaves/ as
// <dev_root>/<entry> (through one dm-integrity or other dm level: libcryptsetup's "<name>_dif"),
// and the token check through LuksVolume on that device.
std::unique_ptr<CryptMappingSource> make_sysfs_crypt_mapping_source(
    const std::filesystem::path& sysfs_root = "/sys", std::filesystem::path dev_root = "/dev");

enum class MappingOrigin {
  kAgent,          // an agent mark or "unlocked" entry of the agent names this mapping and UUID
  kTokenPlugin,    // a token-plugin mark names this UUID
  kOutsideBroker,  // cc-fde-bound, but neither
  kUnknown,        // the header could not be read: whether it is cc-fde-bound is unknown
};

// "opened by fde-agent", "opened by the token plugin", "opened outside the broker", "unknown".
std::string_view mapping_origin_name(MappingOrigin origin) noexcept;

struct MappingReport {
  CryptMapping mapping;
  MappingOrigin origin = MappingOrigin::kOutsideBroker;
  std::optional<Status> error;  // kUnknown: why the header could not be read
};

// Whether `records` (this boot's agent entries) hold an "unlocked" entry for `mapping`: same
// mapping name, same LUKS UUID (compared without case).
bool opened_by_agent(const CryptMapping& mapping, const std::vector<UnlockRecord>& records);

// Where cc-fde-bound `mapping` was opened from, by this boot's agent entries `records` and unlock
// marks `marks` (read_unlock_marks: this boot's only): kAgent, kTokenPlugin or kOutsideBroker (see
// the file comment). UUIDs compare without case; a mark for another mapping or UUID is ignored.
MappingOrigin mapping_origin(const CryptMapping& mapping, const std::vector<UnlockRecord>& records,
                             const std::vector<UnlockMark>& marks);

// The cc-fde-bound mappings of `source` (and those whose header could not be read, as kUnknown),
// each with where it was opened from (mapping_origin), in the source's order. Errors:
// crypt_mappings'.
Result<std::vector<MappingReport>> cc_fde_mappings(const CryptMappingSource& source,
                                                   const std::vector<UnlockRecord>& records,
                                                   const std::vector<UnlockMark>& marks = {});

// The phase-end check: reports each cc-fde mapping of `source` opened outside the broker
// (mapping_origin over `records`, this boot's agent entries, and `marks`, this boot's unlock
// marks) through reporter.opened_outside_broker, and each one whose header cannot be read as a
// warning line; returns how many were opened outside the broker. Each file marks.ignored lists is
// a warning line. A source that is an error is left out (an unreadable mark directory is one info
// line; no journal, as under initramfs-tools, is normal). With both an error there is nothing to
// compare with: one info line says so (only when cc-fde mappings exist) and nothing is reported.
// A mapping list that cannot be read is one info line.
int warn_opened_outside_broker(const CryptMappingSource& source,
                               const Result<std::vector<UnlockRecord>>& records,
                               const Result<UnlockMarks>& marks, Reporter& reporter);

}  // namespace ccfde::agent
