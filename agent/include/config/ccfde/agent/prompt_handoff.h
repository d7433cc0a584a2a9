// SPDX-License-Identifier: Apache-2.0
// The hand-off from fde-agent to the passphrase prompt in the initramfs. Under failure_action
// "prompt", a volume the agent could not unlock goes on to systemd-cryptsetup, which tries the
// volume's LUKS2 tokens (the cc-fde token plugin) before it asks for a passphrase. A second
// attempt against the same broker would cost another deadline, and crypttab's timeout= counts
// from systemd-cryptsetup's start, so the prompt would time out before it appeared. The agent
// therefore records each volume it handed over in /run/cc-fde/prompt/<LUKS UUID> (an empty file,
// nothing secret), and the plugin, in the initramfs only, gives such a volume up at once.
//
// The same place holds the per-volume verdicts the initramfs gate reads (cryptsetup-gate): the
// gate lets systemd-cryptsetup go on with a volume only when fde-agent left positive evidence in
// this boot that it unlocked that volume, or deliberately handed it to the prompt.
#pragma once

#include <filesystem>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde::agent {

// Where the hand-off lives; tests point both elsewhere.
struct PromptHandoffPaths {
  std::filesystem::path run_dir = "/run";
  std::filesystem::path initrd_release = "/etc/initrd-release";  // exists only in an initramfs
};

// <run_dir>/cc-fde/prompt/<uuid>. `uuid` must be a LUKS UUID as libcryptsetup reports it (hex
// digits and dashes, 1-64 characters); anything else (the header is untrusted) gives an empty
// path.
std::filesystem::path prompt_handoff_path(const PromptHandoffPaths& paths, std::string_view uuid);

// Records that fde-agent left volume `uuid` to the passphrase prompt in this boot. Creates the
// directories (0755) as needed. Errors: kInvalidArgument (not a LUKS UUID), kIoError.
Status record_prompt_handoff(const PromptHandoffPaths& paths, std::string_view uuid);

// True when record_prompt_handoff ran for `uuid` in this boot and the process runs in the
// initramfs (paths.initrd_release exists): after switch-root every route tries again. Never
// fails: anything unreadable counts as "not recorded".
bool prompt_handed_off_in_initrd(const PromptHandoffPaths& paths, std::string_view uuid);

enum class VolumeVerdict {
  kUnlocked,  // fde-agent activated (or found active) the mapping
  kPrompt,    // failure_action "prompt": left to the passphrase prompt on purpose
};

// <run_dir>/cc-fde/verdict/<mapping>. `mapping` must be a device-mapper name of
// [A-Za-z0-9_.+-]{1,127}, not "." or ".."; anything else gives an empty path.
std::filesystem::path verdict_path(const PromptHandoffPaths& paths, std::string_view mapping);

// Writes "<unlocked|prompt> <uuid>\n" to verdict_path (replacing an older verdict atomically).
// Errors: kInvalidArgument (a mapping or UUID of the wrong form), kIoError.
Status record_volume_verdict(const PromptHandoffPaths& paths, std::string_view mapping,
                             std::string_view uuid, VolumeVerdict verdict);

}  // namespace ccfde::agent
