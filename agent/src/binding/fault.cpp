// SPDX-License-Identifier: Apache-2.0
#include "fault.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <csignal>
#include <cstdlib>

#include "ccfde/agent/binding.h"

namespace ccfde::agent {
namespace {

// In the order a full run reaches them (enroll with --key-source generate and
// --remove-passphrase, rotate, unbind of a token with one keyslot, enroll --encrypt, reencrypt
// with a recovery passphrase, enroll --recovery-key).
// clang-format off
constexpr auto kFaultPoints = std::to_array<std::string_view>({
    "enroll.after-upload",
    "enroll.after-backup",
    "enroll.after-token-pending",
    "enroll.after-add-keyslot",
    "enroll.after-token-complete",
    "rotate.after-backup",
    "rotate.after-token-rotating",
    "rotate.after-add-keyslot",
    "rotate.after-token-both",
    "rotate.after-upload",
    "rotate.after-destroy-old",
    "unbind.after-backup",
    "unbind.after-token-unbinding",
    "unbind.after-destroy-keyslot",
    "encrypt.during-reencryption",
    "encrypt.after-encryption",
    "reencrypt.after-backup",
    "reencrypt.after-token-reencrypting",
    "reencrypt.after-add-keyslot",
    "reencrypt.during-reencryption",
    "reencrypt.after-reencryption",
    "reencrypt.after-recovery-keyslot",
    "recovery.after-backup",
    "recovery.after-token-pending",
    "recovery.after-add-keyslot",
});
// clang-format on

}  // namespace

bool fault_injection_compiled() noexcept {
#ifdef CCFDE_FAULT_INJECTION
  return true;
#else
  return false;
#endif
}

std::span<const std::string_view> fault_point_names() noexcept {
  if (!fault_injection_compiled()) return {};
  return kFaultPoints;
}

namespace binding {

void fault_point([[maybe_unused]] std::string_view name) noexcept {
#ifdef CCFDE_FAULT_INJECTION
  assert(std::find(kFaultPoints.begin(), kFaultPoints.end(), name) != kFaultPoints.end());
  const char* wanted = std::getenv("CCFDE_FAULT_POINT");
  if (wanted != nullptr && name == wanted) std::raise(SIGKILL);
#endif
}

}  // namespace binding
}  // namespace ccfde::agent
