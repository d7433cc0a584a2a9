// SPDX-License-Identifier: Apache-2.0
// The GHCB certificate table that SNP_GET_EXT_REPORT / the configfs-tsm auxblob returns next to an
// SEV-SNP report (docs/reference/MEASUREMENT-FORMATS.md §3.5): a pure parser over untrusted bytes.
#include "ccfde/measure/snp_cert_table.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure {
namespace {

constexpr std::size_t kCertEntrySize = 24;

bool all_zero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

struct KnownGuid {
  SnpCertType type;
  std::array<std::uint8_t, 16> guid;
};

// docs/reference/MEASUREMENT-FORMATS.md §3.5: RFC 4122 byte order of the textual GUIDs.
constexpr std::array<KnownGuid, 5> kKnownGuids = {{
    {SnpCertType::kVcek,
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
      0xcd}},
    {SnpCertType::kVlek,
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
      0xa1}},
    {SnpCertType::kAsk,
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
      0x82}},
    {SnpCertType::kArk,
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
      0xae}},
    {SnpCertType::kExtraPlatformInfo,
     {0xec, 0xae, 0x0c, 0x0f, 0x95, 0x02, 0x43, 0xb1, 0xaf, 0xa2, 0x0a, 0xe2, 0xe0, 0xd5, 0x65,
      0xb6}},
}};

SnpCertType cert_type_of(const std::array<std::uint8_t, 16>& guid) {
  for (const auto& known : kKnownGuids) {
    if (known.guid == guid) return known.type;
  }
  return SnpCertType::kOther;
}

}  // namespace

std::string_view snp_cert_type_name(SnpCertType type) noexcept {
  switch (type) {
    case SnpCertType::kVcek: return "vcek";
    case SnpCertType::kVlek: return "vlek";
    case SnpCertType::kAsk: return "ask";
    case SnpCertType::kArk: return "ark";
    case SnpCertType::kExtraPlatformInfo: return "extra_platform_info";
    case SnpCertType::kOther: break;
  }
  return "other";
}

std::array<std::uint8_t, 16> snp_cert_guid(SnpCertType type) noexcept {
  for (const auto& known : kKnownGuids) {
    if (known.type == type) return known.guid;
  }
  return {};
}

std::string snp_guid_to_string(std::span<const std::uint8_t, 16> guid) {
  const std::string hex = hex_encode(guid);
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                     hex.substr(16, 4), hex.substr(20, 12));
}

const SnpCertTableEntry* SnpCertTable::find(SnpCertType type) const noexcept {
  for (const auto& entry : entries) {
    if (entry.type == type) return &entry;
  }
  return nullptr;
}

Result<SnpCertTable> parse_snp_cert_table(std::span<const std::uint8_t> buffer) {
  SnpCertTable table;
  ByteReader reader(buffer);
  bool terminated = false;
  for (std::size_t index = 0; !terminated; ++index) {
    const std::string field = fmt::format("certificate table entry {}", index);
    if (reader.remaining() < kCertEntrySize) {
      return make_error(ErrorCode::kTruncated,
                        "SNP certificate table has no all-zero terminator entry: {} at offset {} "
                        "needs {} bytes, only {} left",
                        field, reader.offset(), kCertEntrySize, reader.remaining());
    }
    CCFDE_ASSIGN_OR_RETURN(auto guid, reader.array<16>(field));
    CCFDE_ASSIGN_OR_RETURN(const std::uint32_t offset, reader.u32le(field));
    CCFDE_ASSIGN_OR_RETURN(const std::uint32_t length, reader.u32le(field));
    if (all_zero(guid)) {
      if (offset != 0 || length != 0) {
        return make_error(ErrorCode::kMalformed,
                          "SNP {} has a zero GUID but offset {} and length {} (a terminator "
                          "must be all zero)",
                          field, offset, length);
      }
      terminated = true;
      continue;
    }
    SnpCertTableEntry entry;
    entry.guid = guid;
    entry.type = cert_type_of(guid);
    entry.offset = offset;
    entry.length = length;
    table.entries.push_back(std::move(entry));
  }

  const std::size_t table_size = reader.position();
  std::set<std::array<std::uint8_t, 16>> seen;
  for (std::size_t index = 0; index < table.entries.size(); ++index) {
    const SnpCertTableEntry& entry = table.entries[index];
    const std::string guid_text = snp_guid_to_string(entry.guid);
    if (!seen.insert(entry.guid).second) {
      return make_error(ErrorCode::kMalformed,
                        "SNP certificate table entry {} repeats GUID {} of an earlier entry", index,
                        guid_text);
    }
    if (entry.length == 0) {
      return make_error(ErrorCode::kMalformed, "SNP certificate table entry {} ({}) has length 0",
                        index, guid_text);
    }
    const std::uint64_t begin = entry.offset;
    const std::uint64_t end = begin + entry.length;
    if (begin < table_size) {
      return make_error(ErrorCode::kMalformed,
                        "SNP certificate table entry {} ({}) offset {} points into the {}-byte "
                        "table",
                        index, guid_text, begin, table_size);
    }
    if (end > buffer.size()) {
      return make_error(ErrorCode::kMalformed,
                        "SNP certificate table entry {} ({}) data [{}, {}) exceeds the {}-byte "
                        "buffer",
                        index, guid_text, begin, end, buffer.size());
    }
  }

  // Sorted by start, two ranges overlap only if neighbours do (n log n even for huge tables).
  std::vector<std::size_t> order(table.entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&table](std::size_t a, std::size_t b) {
    return table.entries[a].offset < table.entries[b].offset;
  });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const SnpCertTableEntry& previous = table.entries[order[i - 1]];
    const SnpCertTableEntry& current = table.entries[order[i]];
    const std::uint64_t previous_end = std::uint64_t{previous.offset} + previous.length;
    if (current.offset < previous_end) {
      const std::size_t earlier = std::min(order[i - 1], order[i]);
      const std::size_t later = std::max(order[i - 1], order[i]);
      const SnpCertTableEntry& a = table.entries[earlier];
      const SnpCertTableEntry& b = table.entries[later];
      return make_error(ErrorCode::kMalformed,
                        "SNP certificate table entry {} ({}) data [{}, {}) overlaps entry {} "
                        "data [{}, {})",
                        later, snp_guid_to_string(b.guid), b.offset,
                        std::uint64_t{b.offset} + b.length, earlier, a.offset,
                        std::uint64_t{a.offset} + a.length);
    }
  }

  for (SnpCertTableEntry& entry : table.entries) {
    const auto data = buffer.subspan(entry.offset, entry.length);
    entry.data.assign(data.begin(), data.end());
  }
  return table;
}

nlohmann::json to_json(const SnpCertTable& table) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& entry : table.entries) {
    entries.push_back({{"guid", snp_guid_to_string(entry.guid)},
                       {"type", snp_cert_type_name(entry.type)},
                       {"offset", entry.offset},
                       {"length", entry.length},
                       {"data", hex_encode(entry.data)}});
  }
  return {{"entries", std::move(entries)}};
}

}  // namespace ccfde::measure
