// SPDX-License-Identifier: Apache-2.0
// Reference values for a TDX guest booted directly (QEMU -kernel/-initrd/-append) by OVMF/TDVF
// with a Linux EFI stub kernel: the events the firmware and the stub measure into RTMR1 and RTMR2,
// and the register values they give. The model is the one of Trustee's OVMF vector
// (tests/data/trustee/deps/eventlog/test_data/CCEL_data_ovmf), in log order:
//   RTMR1: EV_EFI_BOOT_SERVICES_APPLICATION (Authenticode SHA-384 of the kernel),
//   RTMR1: EV_EFI_ACTION "Calling EFI Application from Boot Option",
//   RTMR2: EV_EVENT_TAG "LOADED_IMAGE::LoadOptions" (SHA-384 of the UTF-16 load options),
//   RTMR2: EV_EVENT_TAG "Linux initrd" (SHA-384 of the initrd),
//   RTMR1: EV_EFI_ACTION "Exit Boot Services Invocation",
//   RTMR1: EV_EFI_ACTION "Exit Boot Services Returned with Success".
// The stub measures the load options and the initrd into RTMR2 through the CC measurement protocol
// (Linux >= 6.8, drivers/firmware/efi/libstub/efi-stub-helper.c: efi_convert_cmdline,
// efi_load_initrd); an older stub leaves RTMR2 empty on TDX.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::measure {

// What a predicted event measures.
enum class PredictedEventKind {
  kKernel,       // the kernel image (Authenticode)
  kAction,       // an EV_EFI_ACTION text of the firmware
  kLoadOptions,  // the stub's LOADED_IMAGE::LoadOptions (the command line)
  kInitrd,       // the stub's "Linux initrd"
};

// One event the prediction expects in the CCEL.
struct PredictedEvent {
  PredictedEventKind kind = PredictedEventKind::kAction;
  std::uint32_t mr_index = 0;  // CC MR index: 2 = RTMR1, 3 = RTMR2
  std::uint32_t event_type = 0;
  std::string description;  // "kernel (Authenticode)", the EV_EFI_ACTION text, the tag text
  Bytes event_data;         // the record's event data, as the firmware or the stub logs it
  Bytes digest;             // SHA-384, the value extended
};

struct DirectBootPrediction {
  std::vector<PredictedEvent> events;  // in log order
  Bytes rtmr1;                         // 48 bytes
  Bytes rtmr2;                         // 48 bytes
};

// The digests that make a direct boot: the kernel's Authenticode SHA-384 (as loaded: see
// qemu_linux_loader.h), the SHA-384 of the load options when the firmware passes any, and the
// SHA-384 of the initrd when there is one.
struct DirectBootDigests {
  Bytes kernel_authenticode;
  std::optional<Bytes> load_options;
  std::optional<Bytes> initrd;
};

// The load options OVMF gives a kernel it loads from QEMU's fw_cfg
// (tianocore/edk2 OvmfPkg/Library/X86QemuLoadImageLib/X86QemuLoadImageLib.c
// @ 5b43e29cd3b988235ba7b889082daf55bc59c0ff, QemuLoadKernelImage): `cmdline`, plus
// " initrd=initrd" when there is an initrd, each byte widened to UTF-16LE, NUL-terminated.
// nullopt when both are empty (no load options: the stub measures nothing for them).
std::optional<Bytes> ovmf_load_options(std::string_view cmdline, bool has_initrd);

// The events and RTMR1/RTMR2 of a direct boot made of `digests`. kCryptoError only if OpenSSL
// fails.
Result<DirectBootPrediction> predict_direct_boot(const DirectBootDigests& digests);

// The same from the files: `kernel` as the firmware loads it (a PE image), `initrd` (nullopt:
// none) and the command line. Errors: those of authenticode_digest for the kernel.
Result<DirectBootPrediction> predict_direct_boot(
    std::span<const std::uint8_t> kernel, std::optional<std::span<const std::uint8_t>> initrd,
    std::string_view cmdline);

// The same for a kernel QEMU loads itself (-kernel, -initrd, -append) in a guest with
// `below_4g_memory` bytes of RAM below 4 GiB: the kernel measured is the one QEMU patched
// (qemu_patched_linux_kernel); `below_4g_memory` 0 measures `kernel` as it is (firmware that reads
// the unpatched file). Errors: those of qemu_patched_linux_kernel and authenticode_digest.
Result<DirectBootPrediction> predict_qemu_direct_boot(
    std::span<const std::uint8_t> kernel, std::optional<std::span<const std::uint8_t>> initrd,
    std::string_view cmdline, std::uint64_t below_4g_memory);

}  // namespace ccfde::measure
