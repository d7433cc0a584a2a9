// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/direct_boot.h"

#include <array>

#include "ccfde/common/digest.h"
#include "ccfde/measure/pe_authenticode.h"
#include "ccfde/measure/qemu_linux_loader.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::measure {
namespace {

constexpr std::uint32_t kRtmr1MrIndex = 2;
constexpr std::uint32_t kRtmr2MrIndex = 3;
// Linux's tagged-event ids (include/linux/efi.h: INITRD_EVENT_TAG_ID, LOAD_OPTIONS_EVENT_TAG_ID).
constexpr std::uint32_t kInitrdEventTag = 0x8F3B22EC;
constexpr std::uint32_t kLoadOptionsEventTag = 0x8F3B22ED;

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

void append_u32le(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF));
}

void append_u64le(Bytes& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF));
}

// TCG_PCClientTaggedEvent: id, size, then the text with its NUL, as the stub logs it.
Bytes tagged_event(std::uint32_t id, std::string_view text) {
  Bytes data;
  append_u32le(data, id);
  append_u32le(data, static_cast<std::uint32_t>(text.size() + 1));
  data.insert(data.end(), text.begin(), text.end());
  data.push_back(0);
  return data;
}

// UEFI_IMAGE_LOAD_EVENT of the kernel with the device path OVMF gives it (the vendor media node of
// QemuKernelLoaderFsDxe, then File(kernel)). The load address is not predictable and not part of
// the digest: it is logged as 0.
Bytes kernel_image_load_event() {
  static constexpr std::array<std::uint8_t, 16> kQemuKernelLoaderFsMedia = {
      0x72, 0xF7, 0x28, 0x14, 0x4A, 0xB6, 0x1E, 0x44,
      0xB8, 0xC3, 0x9E, 0xBD, 0xD7, 0xF8, 0x93, 0xC7};  // 1428F772-B64A-441E-B8C3-9EBDD7F893C7
  Bytes path;
  path.insert(path.end(), {0x04, 0x03, 0x14, 0x00});  // media, vendor, 20 bytes
  path.insert(path.end(), kQemuKernelLoaderFsMedia.begin(), kQemuKernelLoaderFsMedia.end());
  const std::u16string file = u"kernel";
  const auto file_node_size = static_cast<std::uint16_t>(4 + 2 * (file.size() + 1));
  path.insert(path.end(), {0x04, 0x04, static_cast<std::uint8_t>(file_node_size & 0xFF),
                           static_cast<std::uint8_t>(file_node_size >> 8)});
  for (char16_t c : file) {
    path.push_back(static_cast<std::uint8_t>(c & 0xFF));
    path.push_back(static_cast<std::uint8_t>(c >> 8));
  }
  path.insert(path.end(), {0x00, 0x00, 0x7F, 0xFF, 0x04, 0x00});  // NUL, end of path
  Bytes data;
  append_u64le(data, 0);  // ImageLocationInMemory
  append_u64le(data, 0);  // ImageLengthInMemory
  append_u64le(data, 0);  // ImageLinkTimeAddress
  append_u64le(data, path.size());
  data.insert(data.end(), path.begin(), path.end());
  return data;
}

Status add_action(DirectBootPrediction& prediction, std::string_view action) {
  CCFDE_ASSIGN_OR_RETURN(auto action_digest, digest(DigestAlgorithm::kSha384, bytes_of(action)));
  prediction.events.push_back({PredictedEventKind::kAction, kRtmr1MrIndex, kEvEfiAction,
                               std::string(action), bytes_of(action), action_digest});
  return Status::ok_status();
}

Result<Bytes> extend(const Bytes& value, const Bytes& digest_value) {
  return digest(DigestAlgorithm::kSha384, {value, digest_value});
}

}  // namespace

std::optional<Bytes> ovmf_load_options(std::string_view cmdline, bool has_initrd) {
  std::string text(cmdline);
  if (has_initrd) text += " initrd=initrd";
  if (text.empty()) return std::nullopt;
  Bytes options;
  options.reserve(2 * (text.size() + 1));
  for (char c : text) {
    options.push_back(static_cast<std::uint8_t>(c));
    options.push_back(0);
  }
  options.push_back(0);
  options.push_back(0);
  return options;
}

Result<DirectBootPrediction> predict_direct_boot(const DirectBootDigests& digests) {
  DirectBootPrediction prediction;
  prediction.events.push_back({PredictedEventKind::kKernel, kRtmr1MrIndex,
                               kEvEfiBootServicesApplication, "kernel (Authenticode)",
                               kernel_image_load_event(), digests.kernel_authenticode});
  // In log order: the boot option starts the kernel, whose stub measures its load options and
  // initrd before it exits the boot services.
  CCFDE_RETURN_IF_ERROR(add_action(prediction, "Calling EFI Application from Boot Option"));
  if (digests.load_options) {
    prediction.events.push_back(
        {PredictedEventKind::kLoadOptions, kRtmr2MrIndex, kEvEventTag, "LOADED_IMAGE::LoadOptions",
         tagged_event(kLoadOptionsEventTag, "LOADED_IMAGE::LoadOptions"), *digests.load_options});
  }
  if (digests.initrd) {
    prediction.events.push_back({PredictedEventKind::kInitrd, kRtmr2MrIndex, kEvEventTag,
                                 "Linux initrd", tagged_event(kInitrdEventTag, "Linux initrd"),
                                 *digests.initrd});
  }
  CCFDE_RETURN_IF_ERROR(add_action(prediction, "Exit Boot Services Invocation"));
  CCFDE_RETURN_IF_ERROR(add_action(prediction, "Exit Boot Services Returned with Success"));
  prediction.rtmr1 = Bytes(48, 0);
  prediction.rtmr2 = Bytes(48, 0);
  for (const auto& event : prediction.events) {
    Bytes& target = event.mr_index == kRtmr1MrIndex ? prediction.rtmr1 : prediction.rtmr2;
    CCFDE_ASSIGN_OR_RETURN(target, extend(target, event.digest));
  }
  return prediction;
}

Result<DirectBootPrediction> predict_direct_boot(
    std::span<const std::uint8_t> kernel, std::optional<std::span<const std::uint8_t>> initrd,
    std::string_view cmdline) {
  DirectBootDigests digests;
  auto kernel_digest = authenticode_digest(kernel, DigestAlgorithm::kSha384);
  if (!kernel_digest.ok()) return kernel_digest.status().with_context("kernel");
  digests.kernel_authenticode = std::move(*kernel_digest);
  if (const auto options = ovmf_load_options(cmdline, initrd.has_value())) {
    CCFDE_ASSIGN_OR_RETURN(digests.load_options, digest(DigestAlgorithm::kSha384, *options));
  }
  if (initrd) {
    CCFDE_ASSIGN_OR_RETURN(digests.initrd, digest(DigestAlgorithm::kSha384, *initrd));
  }
  return predict_direct_boot(digests);
}

Result<DirectBootPrediction> predict_qemu_direct_boot(
    std::span<const std::uint8_t> kernel, std::optional<std::span<const std::uint8_t>> initrd,
    std::string_view cmdline, std::uint64_t below_4g_memory) {
  if (below_4g_memory == 0) return predict_direct_boot(kernel, initrd, cmdline);
  QemuLinuxBoot boot;
  boot.cmdline = cmdline;
  if (initrd) boot.initrd_size = initrd->size();
  boot.below_4g_memory = below_4g_memory;
  CCFDE_ASSIGN_OR_RETURN(const Bytes patched, qemu_patched_linux_kernel(kernel, boot));
  return predict_direct_boot(patched, initrd, cmdline);
}

}  // namespace ccfde::measure
