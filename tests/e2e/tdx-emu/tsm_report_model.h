// SPDX-License-Identifier: Apache-2.0
// TEST ONLY: the kernel side of configfs-tsm's report directory (Linux 6.7 ABI,
// Documentation/ABI/testing/configfs-tsm) for a TDX guest (provider tdx_guest) or an SEV-SNP guest
// (provider sev_guest), without FUSE: instances, attributes, the generation counter and the
// outblob/auxblob cache. tsm_fuse.h mounts it. Errors carry the errno the kernel would return
// (Status::sys_errno()), which the FUSE adapter hands back.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/encoding.h"
#include "ccfde/common/status.h"

namespace ccfde::tdx_emu {

// TSM_INBLOB_MAX and TSM_OUTBLOB_MAX.
inline constexpr std::size_t kInblobSize = 64;
inline constexpr std::size_t kOutblobMax = 32 * 1024;

// The provider a report directory answers for: its `provider` text and `privlevel_floor`.
struct TsmProvider {
  std::string_view name;
  unsigned privlevel_floor = 0;
};
// drivers/virt/coco/tdx-guest: privlevel_floor 0.
inline constexpr TsmProvider kTdxGuestProvider{"tdx_guest", 0};
// drivers/virt/coco/sev-guest for a guest running at VMPL0 (no SVSM): privlevel_floor 0.
inline constexpr TsmProvider kSevGuestProvider{"sev_guest", 0};

// What one report generation holds: outblob (a TDX quote or an SNP report) and auxblob (empty for
// TDX; the SNP certificate table).
struct TsmReport {
  Bytes outblob;
  Bytes auxblob;
};

// Produces the report for a committed 64-byte inblob and the instance's privlevel (SNP: the VMPL
// the report is requested for; TDX ignores it).
using ReportGenerator =
    std::function<Result<TsmReport>(std::span<const std::uint8_t, kInblobSize>, unsigned)>;

enum class TsmAttribute {
  kAuxblob,
  kGeneration,
  kInblob,
  kOutblob,
  kPrivlevel,
  kPrivlevelFloor,
  kProvider
};

struct TsmAttributeInfo {
  std::string_view name;
  TsmAttribute id;
  bool readable;
  bool writable;
  bool binary;  // configfs binary attribute (buffered until close) rather than text
};

// Every attribute of a report instance, in directory order.
std::span<const TsmAttributeInfo> tsm_attributes() noexcept;

// The attribute called `name`, or nullptr.
const TsmAttributeInfo* find_tsm_attribute(std::string_view name) noexcept;

class TsmReportModel {
 public:
  // `generator` is called at most once per instance and generation, when outblob or auxblob is
  // first read after a new inblob.
  TsmReportModel(TsmProvider provider, ReportGenerator generator);

  // mkdir: a new instance with generation 0 and no inblob. EEXIST when it exists.
  Status make_instance(std::string_view name);
  // rmdir: removes the instance; handles still open on it fail with ENOENT. ENOENT when absent.
  Status remove_instance(std::string_view name);
  bool has_instance(std::string_view name) const;
  std::vector<std::string> instance_names() const;

  // open: a handle on one attribute. ENOENT when the instance is absent; EACCES when opened for
  // reading a write-only or for writing a read-only attribute (as configfs does).
  Result<std::uint64_t> open(std::string_view instance, TsmAttribute attribute, bool for_read,
                             bool for_write);
  // read at `offset`. Text attributes are rendered once per handle; outblob/auxblob come from
  // the instance's report for its current generation, generated on demand: EINVAL when the
  // committed inblob is not 64 bytes, EIO when the generator fails or the outblob or auxblob is
  // larger than kOutblobMax. ENOENT after rmdir.
  Result<Bytes> read(std::uint64_t handle, std::size_t offset, std::size_t size);
  // write at `offset`. inblob buffers the bytes (EFBIG beyond 64 bytes) until flush; privlevel
  // takes a decimal level from the provider's floor to 3 at once (EINVAL otherwise) and advances
  // the generation.
  Result<std::size_t> write(std::uint64_t handle, std::size_t offset,
                            std::span<const std::uint8_t> bytes);
  // close (FUSE flush): commits a buffered inblob and advances the generation. Never fails for
  // an open handle, as configfs ignores the result of the commit.
  Status flush(std::uint64_t handle);
  // The last close: forgets the handle.
  void release(std::uint64_t handle);

 private:
  struct Instance {
    std::uint64_t generation = 0;
    unsigned privlevel = 0;
    Bytes inblob;
    std::optional<std::uint64_t> report_generation;
    TsmReport report;
    bool removed = false;
  };
  struct Handle {
    std::shared_ptr<Instance> instance;
    TsmAttribute attribute;
    std::optional<Bytes> text;  // text attributes: the rendering served to this handle
    Bytes pending;              // inblob bytes written and not yet committed
    bool written = false;
  };

  Result<Handle*> find_handle(std::uint64_t handle);
  Result<const TsmReport*> report(Instance& instance);

  TsmProvider provider_;
  ReportGenerator generator_;
  std::map<std::string, std::shared_ptr<Instance>, std::less<>> instances_;
  std::map<std::uint64_t, Handle> handles_;
  std::uint64_t next_handle_ = 1;
};

}  // namespace ccfde::tdx_emu
