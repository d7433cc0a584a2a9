// SPDX-License-Identifier: Apache-2.0
// The real CryptMappingSource: device-mapper's mappings from sysfs, their headers through
// LuksVolume (crypt_mappings.h).
#include "ccfde/agent/crypt_mappings.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <system_error>

#include "ccfde/agent/luks_volume.h"
#include "ccfde/agent/token.h"
#include "ccfde/common/file_io.h"

namespace ccfde::agent {
namespace {

constexpr std::string_view kLuks2DmUuidPrefix = "CRYPT-LUKS2-";
constexpr std::size_t kHexUuidLength = 32;

// The LUKS UUID (8-4-4-4-12 lowercase) and mapping name in libcryptsetup's dm UUID
// "CRYPT-LUKS2-<32 hex>-<name>", or nullopt for any other dm UUID.
std::optional<std::pair<std::string, std::string>> parse_dm_uuid(std::string_view dm_uuid) {
  if (!dm_uuid.starts_with(kLuks2DmUuidPrefix)) return std::nullopt;
  std::string_view rest = dm_uuid.substr(kLuks2DmUuidPrefix.size());
  if (rest.size() < kHexUuidLength + 2 || rest[kHexUuidLength] != '-') return std::nullopt;
  std::string uuid;
  for (std::size_t i = 0; i < kHexUuidLength; ++i) {
    const char c = rest[i];
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
    if (i == 8 || i == 12 || i == 16 || i == 20) uuid += '-';
    uuid += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return std::make_pair(uuid, std::string(rest.substr(kHexUuidLength + 1)));
}

// The entries of <block>/slaves, sorted.
std::vector<std::string> slaves_of(const std::filesystem::path& block) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(block / "slaves", error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class SysfsCryptMappingSource final : public CryptMappingSource {
 public:
  SysfsCryptMappingSource(const std::filesystem::path& sysfs_root, std::filesystem::path dev_root)
      : block_dir_(sysfs_root / "block"), dev_root_(std::move(dev_root)) {}

  Result<std::vector<CryptMapping>> crypt_mappings() const override {
    std::error_code error;
    std::filesystem::directory_iterator blocks(block_dir_, error);
    if (error) {
      return make_error(error == std::errc::no_such_file_or_directory ? ErrorCode::kNotFound
                                                                      : ErrorCode::kIoError,
                        "cannot list {}: {}", block_dir_.string(), error.message());
    }
    std::vector<std::string> names;
    for (const auto& entry : blocks) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("dm-")) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    std::vector<CryptMapping> mappings;
    for (const std::string& name : names) {
      const std::filesystem::path block = block_dir_ / name;
      auto dm_uuid = read_text_attribute(block / "dm" / "uuid");
      if (!dm_uuid.ok()) continue;  // removed meanwhile, or not a dm device
      auto parsed = parse_dm_uuid(*dm_uuid);
      if (!parsed) continue;
      CryptMapping mapping;
      mapping.luks_uuid = parsed->first;
      auto dm_name = read_text_attribute(block / "dm" / "name");
      mapping.name = dm_name.ok() ? *dm_name : parsed->second;
      mapping.device = device_under(block);
      mappings.push_back(std::move(mapping));
    }
    return mappings;
  }

  Result<bool> carries_cc_fde_token(const std::filesystem::path& device) const override {
    if (device.empty()) {
      return make_error(ErrorCode::kNotFound, "the device under the mapping is unknown");
    }
    CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
    CCFDE_ASSIGN_OR_RETURN(auto tokens, volume.tokens());
    return std::any_of(tokens.begin(), tokens.end(),
                       [](const TokenEntry& token) { return token.type == kTokenType; });
  }

 private:
  // The one block device under dm device `block`, through one more dm level (dm-integrity under
  // dm-crypt); "" when there is not exactly one.
  std::filesystem::path device_under(const std::filesystem::path& block) const {
    std::vector<std::string> slaves = slaves_of(block);
    if (slaves.size() == 1 && slaves.front().starts_with("dm-")) {
      slaves = slaves_of(block_dir_ / slaves.front());
    }
    if (slaves.size() != 1) return {};
    return dev_root_ / slaves.front();
  }

  std::filesystem::path block_dir_;
  std::filesystem::path dev_root_;
};

}  // namespace

std::unique_ptr<CryptMappingSource> make_sysfs_crypt_mapping_source(
    const std::filesystem::path& sysfs_root, std::filesystem::path dev_root) {
  return std::make_unique<SysfsCryptMappingSource>(sysfs_root, std::move(dev_root));
}

}  // namespace ccfde::agent
