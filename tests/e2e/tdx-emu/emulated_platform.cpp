// SPDX-License-Identifier: Apache-2.0
#include "emulated_platform.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "ccfde/common/digest.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/measure/ccel.h"
#include "ccfde/measure/replay.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::tdx_emu {
namespace {

namespace fs = std::filesystem;

// OVMF reserves 64 KiB for the CC event log; the sysfs data file is the whole area.
constexpr std::size_t kLogAreaSize = std::size_t{64} * 1024;
// A plausible guest-physical address below 4 GiB; nothing reads memory there.
constexpr std::uint64_t kLogAreaAddress = 0x7fbf0000;
constexpr const char* kRegisterNames[] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
constexpr std::uint32_t kRtmr0MrIndex = 1;

void put_le(Bytes& out, std::uint64_t value, int size) {
  for (int i = 0; i < size; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}
void put_text(Bytes& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

// The ACPI 6.5 CCEL table (5.2.34) of a TDX guest whose log area is `log_size` bytes.
Bytes ccel_table(std::size_t log_size) {
  Bytes table;
  put_text(table, "CCEL");
  put_le(table, measure::kCcelTableSize, 4);
  table.push_back(1);  // revision
  table.push_back(0);  // checksum, set below
  put_text(table, "CCFDE ");
  put_text(table, "TDXEMU  ");
  put_le(table, 1, 4);  // OEM revision
  put_text(table, "CCFD");
  put_le(table, 1, 4);  // creator revision
  table.push_back(measure::kCcTypeTdx);
  table.push_back(0);  // CC subtype
  put_le(table, 0, 2);
  put_le(table, log_size, 8);
  put_le(table, kLogAreaAddress, 8);
  unsigned sum = 0;
  for (std::uint8_t byte : table) sum += byte;
  table[9] = static_cast<std::uint8_t>(256 - sum % 256);
  return table;
}

Status write_with_mode(const fs::path& path, std::span<const std::uint8_t> bytes, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return make_errno_error(ErrorCode::kIoError, errno, "cannot create {}", path.string());
  // An existing file keeps its old mode through open(); key material must not.
  if (::fchmod(fd.get(), mode) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot chmod {}", path.string());
  }
  if (const int error = write_all(fd.get(), bytes); error != 0) {
    return make_errno_error(ErrorCode::kIoError, error, "cannot write {}", path.string());
  }
  if (::close(fd.release()) != 0) {
    return make_errno_error(ErrorCode::kIoError, errno, "cannot close {}", path.string());
  }
  return Status();
}

Status make_directories(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return make_errno_error(ErrorCode::kIoError, error.value(), "cannot create {}", dir.string());
  }
  return Status();
}

Result<Register> register_from_json(const nlohmann::json& json, const char* name) {
  const auto found = json.find(name);
  if (found == json.end() || !found->is_string()) {
    return make_error(ErrorCode::kMalformed, "reference.json: {} must be a hex string", name);
  }
  auto bytes = hex_decode(found->get<std::string>());
  if (!bytes.ok() || bytes->size() != 48) {
    return make_error(ErrorCode::kMalformed, "reference.json: {} must be 48 bytes of hex", name);
  }
  Register value{};
  std::copy(bytes->begin(), bytes->end(), value.begin());
  return value;
}

// reference.json: {"mr_td", "rtmr0".."rtmr3"} in hex.
std::string reference_text(const EmulatedPlatform& platform) {
  nlohmann::ordered_json reference;
  reference["mr_td"] = hex_encode(platform.mr_td);
  for (std::size_t i = 0; i < 4; ++i) reference[kRegisterNames[i]] = hex_encode(platform.rtmr[i]);
  return reference.dump(2) + "\n";
}

// The platform's log must mean to measure's parser what it means to the sample builder.
Status check_with_measure(const EmulatedPlatform& platform) {
  CCFDE_ASSIGN_OR_RETURN(const auto table, measure::parse_ccel_table(platform.ccel_table));
  if (table.cc_type != measure::kCcTypeTdx ||
      table.log_area_minimum_length != platform.ccel_data.size()) {
    return make_error(ErrorCode::kInternal, "the emulated CCEL table does not describe the log");
  }
  CCFDE_ASSIGN_OR_RETURN(const auto log, measure::parse_tcg_event_log(platform.ccel_data));
  CCFDE_ASSIGN_OR_RETURN(const auto replay, measure::replay_rtmrs(log));
  for (std::uint32_t i = 0; i < 4; ++i) {
    const auto found = replay.registers.find(measure::RegisterId::rtmr(i));
    if (found == replay.registers.end() ||
        !std::equal(found->second.begin(), found->second.end(), platform.rtmr[i].begin(),
                    platform.rtmr[i].end())) {
      return make_error(ErrorCode::kInternal,
                        "measure's replay of the emulated CCEL gives another RTMR{}", i);
    }
  }
  return Status();
}

}  // namespace

Result<EmulatedPlatform> make_platform(std::string_view mr_td_seed) {
  EmulatedPlatform platform;
  platform.chain = testing::build_sample_pck_chain();
  CCFDE_ASSIGN_OR_RETURN(const Bytes mr_td, digest(DigestAlgorithm::kSha384, as_bytes(mr_td_seed)));
  std::copy(mr_td.begin(), mr_td.end(), platform.mr_td.begin());
  const auto events = testing::default_sample_events();
  platform.rtmr = testing::replay_sample_events(events);
  platform.ccel_data = testing::build_sample_event_log(events);
  if (platform.ccel_data.size() < kLogAreaSize) {
    platform.ccel_data.resize(kLogAreaSize, 0xff);
  }
  platform.ccel_table = ccel_table(platform.ccel_data.size());
  CCFDE_RETURN_IF_ERROR(check_with_measure(platform));
  return platform;
}

Status write_platform(const EmulatedPlatform& platform, const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(dir, error)) {
    CCFDE_RETURN_IF_ERROR(make_directories(dir));
    fs::permissions(dir, fs::perms::owner_all, error);
  }
  CCFDE_RETURN_IF_ERROR(write_with_mode(dir / "chain.pem",
                                        as_bytes(testing::pck_chain_to_pem(platform.chain)), 0600));
  CCFDE_RETURN_IF_ERROR(write_with_mode(dir / "root.pem", as_bytes(platform.chain.root_pem), 0644));
  CCFDE_RETURN_IF_ERROR(write_with_mode(dir / "ccel-table.bin", platform.ccel_table, 0644));
  CCFDE_RETURN_IF_ERROR(write_with_mode(dir / "ccel-data.bin", platform.ccel_data, 0644));
  return write_with_mode(dir / "reference.json", as_bytes(reference_text(platform)), 0644);
}

namespace {

// Reads reference.json, ccel-table.bin and ccel-data.bin into `platform`, each from
// `path_of(name)`.
template <typename PathOf>
Status read_measurements(EmulatedPlatform& platform, PathOf path_of) {
  const fs::path reference_path = path_of("reference.json");
  CCFDE_ASSIGN_OR_RETURN(const Bytes reference_text, read_file(reference_path, 1 << 16));
  const auto reference = nlohmann::json::parse(as_chars(reference_text), nullptr, false);
  if (!reference.is_object()) {
    return make_error(ErrorCode::kMalformed, "{} is not a JSON object", reference_path.string());
  }
  CCFDE_ASSIGN_OR_RETURN(platform.mr_td, register_from_json(reference, "mr_td"));
  for (std::size_t i = 0; i < 4; ++i) {
    CCFDE_ASSIGN_OR_RETURN(platform.rtmr[i], register_from_json(reference, kRegisterNames[i]));
  }

  const fs::path table_path = path_of("ccel-table.bin");
  CCFDE_ASSIGN_OR_RETURN(platform.ccel_table, read_file(table_path, 4096));
  CCFDE_ASSIGN_OR_RETURN(platform.ccel_data, read_file(path_of("ccel-data.bin")));
  auto table = measure::parse_ccel_table(platform.ccel_table);
  if (!table.ok()) return table.status().with_context(table_path.string());
  if (table->log_area_minimum_length != platform.ccel_data.size()) {
    return make_error(ErrorCode::kMalformed,
                      "the CCEL table's log area is {} bytes, but ccel-data.bin has {}",
                      table->log_area_minimum_length, platform.ccel_data.size());
  }
  return Status();
}

}  // namespace

Result<EmulatedPlatform> read_platform(const fs::path& dir) {
  EmulatedPlatform platform;
  CCFDE_ASSIGN_OR_RETURN(const Bytes chain_pem, read_file(dir / "chain.pem", 1 << 20));
  auto chain = testing::pck_chain_from_pem(as_chars(chain_pem));
  if (!chain.ok()) return chain.status().with_context((dir / "chain.pem").string());
  platform.chain = std::move(chain).value();
  CCFDE_RETURN_IF_ERROR(
      read_measurements(platform, [&dir](std::string_view name) { return dir / name; }));
  return platform;
}

Result<EmulatedPlatform> measured_boot_platform(EmulatedPlatform platform,
                                                const measure::DirectBootPrediction& prediction) {
  EmulatedPlatform booted;
  booted.chain = std::move(platform.chain);
  booted.mr_td = platform.mr_td;
  booted.mr_config_id = platform.mr_config_id;
  std::vector<testing::SampleEvent> firmware;
  for (const auto& event : testing::default_sample_events()) {
    if (event.mr_index == kRtmr0MrIndex) firmware.push_back(event);
  }
  booted.rtmr[0] = testing::replay_sample_events(firmware)[0];
  std::vector<testing::SampleRecord> records = testing::sample_records(firmware);
  for (const auto& event : prediction.events) {
    records.push_back({event.mr_index, event.event_type, event.event_data, event.digest});
  }
  std::copy(prediction.rtmr1.begin(), prediction.rtmr1.end(), booted.rtmr[1].begin());
  std::copy(prediction.rtmr2.begin(), prediction.rtmr2.end(), booted.rtmr[2].begin());
  booted.ccel_data = testing::build_sample_event_log(records);
  if (booted.ccel_data.size() < kLogAreaSize) booted.ccel_data.resize(kLogAreaSize, 0xff);
  booted.ccel_table = ccel_table(booted.ccel_data.size());
  CCFDE_RETURN_IF_ERROR(check_with_measure(booted));
  return booted;
}

Status write_boot_measurements(const EmulatedPlatform& platform, std::string_view cmdline,
                               const fs::path& dir) {
  CCFDE_RETURN_IF_ERROR(make_directories(dir));
  CCFDE_RETURN_IF_ERROR(write_with_mode(dir / "ccel-table.bin", platform.ccel_table, 0644));
  CCFDE_RETURN_IF_ERROR(write_with_mode(dir / "ccel-data.bin", platform.ccel_data, 0644));
  CCFDE_RETURN_IF_ERROR(
      write_with_mode(dir / "reference.json", as_bytes(reference_text(platform)), 0644));
  return write_with_mode(dir / "cmdline", as_bytes(cmdline), 0644);
}

namespace {

// DIR/mrconfigid/raw: the 48 raw bytes of MRCONFIGID; zero when the host passed none.
Result<Register> read_fw_cfg_mr_config_id(const fs::path& dir) {
  Register value{};
  std::error_code error;
  if (!fs::exists(dir / "mrconfigid", error)) return value;
  const fs::path path = dir / "mrconfigid" / "raw";
  // Larger than any digest, so that a wrong file (a hex dump, the init-data itself) is reported
  // with its size.
  constexpr std::size_t kMaxSize = 1 << 16;
  auto bytes = read_file(path, kMaxSize);
  if (!bytes.ok() && bytes.status().code() == ErrorCode::kInvalidArgument) {
    return make_error(ErrorCode::kMalformed,
                      "{}: MRCONFIGID must be the {} raw bytes of a SHA-384 digest, the file has "
                      "more than {}",
                      path.string(), value.size(), kMaxSize);
  }
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != value.size()) {
    return make_error(
        ErrorCode::kMalformed,
        "{}: MRCONFIGID must be the {} raw bytes of a SHA-384 digest, the file has {}",
        path.string(), value.size(), bytes->size());
  }
  std::copy(bytes->begin(), bytes->end(), value.begin());
  return value;
}

}  // namespace

Result<FwCfgBoot> read_fw_cfg_boot(EmulatedPlatform platform, const fs::path& dir) {
  const auto raw = [&dir](std::string_view name) { return dir / name / "raw"; };
  CCFDE_RETURN_IF_ERROR(read_measurements(platform, raw));
  CCFDE_ASSIGN_OR_RETURN(platform.mr_config_id, read_fw_cfg_mr_config_id(dir));
  CCFDE_ASSIGN_OR_RETURN(const Bytes cmdline, read_file(raw("cmdline"), 1 << 16));
  FwCfgBoot boot{std::move(platform), std::string(cmdline.begin(), cmdline.end())};
  if (boot.cmdline.find_first_of(std::string_view("\0\n", 2)) != std::string::npos) {
    return make_error(ErrorCode::kMalformed,
                      "{}: the measured command line holds a NUL or a line break",
                      raw("cmdline").string());
  }
  return boot;
}

namespace {

// The emulation stands in for the TEE's interfaces only: the agent, rooted at the platform root,
// reads the firmware's own SMBIOS tables (init-data in an OEM string) through this link.
Status link_firmware_dmi(const fs::path& root) {
  const fs::path link = root / "sys/firmware/dmi";
  CCFDE_RETURN_IF_ERROR(make_directories(link.parent_path()));
  std::error_code error;
  fs::remove(link, error);
  fs::create_directory_symlink("/sys/firmware/dmi", link, error);
  if (error) {
    return make_errno_error(ErrorCode::kIoError, error.value(),
                            "cannot link {} to /sys/firmware/dmi", link.string());
  }
  return Status();
}

}  // namespace

Result<GuestTree> install_guest_tree(const EmulatedPlatform& platform, const fs::path& root) {
  const fs::path tables = root / "sys/firmware/acpi/tables";
  const GuestTree tree{root / "sys/kernel/config/tsm/report",
                       root / "sys/devices/virtual/misc/tdx_guest/measurements"};
  CCFDE_RETURN_IF_ERROR(make_directories(tables / "data"));
  CCFDE_RETURN_IF_ERROR(make_directories(root / "proc"));
  CCFDE_RETURN_IF_ERROR(make_directories(tree.report));
  CCFDE_RETURN_IF_ERROR(make_directories(tree.measurements));
  CCFDE_RETURN_IF_ERROR(write_with_mode(tables / "CCEL", platform.ccel_table, 0400));
  CCFDE_RETURN_IF_ERROR(write_with_mode(tables / "data/CCEL", platform.ccel_data, 0400));
  // One virtual CPU; measure's detection reads the first "flags" line.
  const std::string cpuinfo =
      "processor\t: 0\n"
      "vendor_id\t: GenuineIntel\n"
      "cpu family\t: 6\n"
      "model\t\t: 143\n"
      "model name\t: cc-fde tdx-emu virtual CPU (TEST ONLY, not hardware)\n"
      "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
      "clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl "
      "cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx "
      "f16c rdrand hypervisor lahf_lm abm fsgsbase bmi1 avx2 smep bmi2 erms rdseed adx smap "
      "clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves umip md_clear tdx_guest\n"
      "\n";
  CCFDE_RETURN_IF_ERROR(write_with_mode(root / "proc/cpuinfo", as_bytes(cpuinfo), 0444));
  CCFDE_RETURN_IF_ERROR(link_firmware_dmi(root));
  return tree;
}

Result<GuestTree> install_snp_guest_tree(const fs::path& root) {
  const GuestTree tree{root / "sys/kernel/config/tsm/report", {}};
  CCFDE_RETURN_IF_ERROR(make_directories(root / "proc"));
  CCFDE_RETURN_IF_ERROR(make_directories(tree.report));
  // One virtual CPU; measure's detection reads the first "flags" line.
  const std::string cpuinfo =
      "processor\t: 0\n"
      "vendor_id\t: AuthenticAMD\n"
      "cpu family\t: 25\n"
      "model\t\t: 17\n"
      "model name\t: cc-fde tdx-emu SEV-SNP virtual CPU (TEST ONLY, not hardware)\n"
      "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
      "clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc "
      "rep_good nopl cpuid extd_apicid pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe "
      "popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a "
      "misalignsse 3dnowprefetch osvw topoext fsgsbase bmi1 avx2 smep bmi2 erms rdseed adx smap "
      "clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves clzero xsaveerptr rdpru "
      "virt_ssbd arat umip vaes vpclmulqdq rdpid fsrm sev sev_es sev_snp\n"
      "\n";
  CCFDE_RETURN_IF_ERROR(write_with_mode(root / "proc/cpuinfo", as_bytes(cpuinfo), 0444));
  CCFDE_RETURN_IF_ERROR(link_firmware_dmi(root));
  return tree;
}

Bytes quote_for(const EmulatedPlatform& platform, const std::array<Register, 4>& rtmr,
                std::span<const std::uint8_t, 64> report_data) {
  testing::SampleQuoteSpec spec;
  spec.rtmr = rtmr;
  spec.mr_td = platform.mr_td;
  spec.mr_config_id = platform.mr_config_id;
  std::copy(report_data.begin(), report_data.end(), spec.report_data.begin());
  return testing::build_sample_tdx_quote(spec, platform.chain).quote;
}

}  // namespace ccfde::tdx_emu
