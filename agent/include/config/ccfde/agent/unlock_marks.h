// SPDX-License-Identifier: Apache-2.0
// Unlock marks: what fde-agent and the token plugin leave in /run after each unlock, so that
// `fdectl status` and the phase-end check (crypt_mappings.h) tell their mappings from ones opened
// outside the broker without the journal (an initramfs-tools initramfs has none; the plugin writes
// no journal entries). /run survives switch-root under both initramfs flavours: systemd moves it
// (systemd/systemd src/shared/switch-root.c, commit 006b3bff17a17236292780fed79aeeea97873832,
// transfer_table) and initramfs-tools' init runs `mount -n -o move /run ${rootmnt}/run`
// (Debian's initramfs-tools, file init; as mirrored in pexip/os-initramfs-tools, path init,
// commit 13b74c5836d1b0a3438ff4165ad780d52d0196d6).
//
// One file per unlock in <dir> (/run/cc-fde/unlocks, mode 0700), mode 0600, replaced atomically,
// named "fde-agent@<uuid>@<mapping>" or "token-plugin@<uuid>", holding one JSON object:
//   {"mapping": "root", "luks_uuid": "...", "opened_by": "fde-agent", "boot_id": "..."}
// "mapping" is "" in a token-plugin mark: libcryptsetup does not tell the plugin the name. Nothing
// secret is in a mark. A token-plugin mark says that the plugin handed a key for the volume to
// libcryptsetup in this boot (for an activation or a `--test-passphrase`), not that it opened it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde::agent {

enum class UnlockOpener {
  kAgent,        // fde-agent (unlock, keyscript, first boot)
  kTokenPlugin,  // libcryptsetup-token-cc-fde.so
};
// "fde-agent", "token-plugin".
std::string_view unlock_opener_name(UnlockOpener opener) noexcept;

struct UnlockMark {
  std::string mapping;  // "" for kTokenPlugin
  std::string luks_uuid;
  UnlockOpener opened_by = UnlockOpener::kAgent;
  std::string boot_id;  // /proc/sys/kernel/random/boot_id when it was written
};

// Where the marks live; tests point both elsewhere.
struct UnlockMarkPaths {
  std::filesystem::path dir = "/run/cc-fde/unlocks";
  std::filesystem::path boot_id = "/proc/sys/kernel/random/boot_id";
};

// The mark's JSON text (one line, with a trailing newline).
std::string unlock_mark_json(const UnlockMark& mark);
// Parses a mark. Errors: kMalformed (not a JSON object of exactly the four string members, an
// unknown opened_by, a kAgent mark without a device-mapper name or a kTokenPlugin mark with one,
// a luks_uuid or boot_id that is not hex digits and dashes).
Result<UnlockMark> parse_unlock_mark(std::string_view text);

// Writes the mark of an unlock in this boot: creates <dir>'s parent (0755) and <dir> (0700) as
// needed, then the file (0600) through a temporary file and rename(). Follows no symlink at <dir>
// or the file, and replaces nothing but a regular file. `mapping` must be a device-mapper name for
// kAgent and "" for kTokenPlugin. Errors: kInvalidArgument (a mapping or UUID of the wrong form;
// <dir> or the file is a symlink or not a directory / regular file; <dir> is not owned by this
// user or is writable by group or others), kNotFound / kIoError (the boot id cannot be read),
// kIoError (creating or writing failed).
Status write_unlock_mark(const UnlockMarkPaths& paths, UnlockOpener opener,
                         std::string_view mapping, std::string_view luks_uuid);

// Removes the mark write_unlock_mark wrote for the same arguments (the agent closed the mapping
// again); an absent mark is not an error. Errors: kInvalidArgument (as write_unlock_mark),
// kIoError.
Status remove_unlock_mark(const UnlockMarkPaths& paths, UnlockOpener opener,
                          std::string_view mapping, std::string_view luks_uuid);

struct UnlockMarks {
  std::vector<UnlockMark> marks;  // this boot's, in file-name order
  std::vector<Status> ignored;    // a file that is not a valid mark of this boot, and why
};

// The marks of this boot in <dir>. No <dir> is no mark (nothing was unlocked). A file that is not
// a regular file (a symlink), is owned by another user than root or this one, is writable by group
// or others, does not parse, or names another boot id is left out and listed in `ignored`; names
// starting with "." (temporary files) are skipped. Errors: kInvalidArgument (<dir> is a symlink or
// no directory, owned by another user, or writable by group or others), kNotFound / kIoError (the
// boot id cannot be read), kIoError (<dir> cannot be read).
Result<UnlockMarks> read_unlock_marks(const UnlockMarkPaths& paths = {});

}  // namespace ccfde::agent
