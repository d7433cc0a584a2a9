// SPDX-License-Identifier: Apache-2.0
#include "ccfde/testing/luks_header_edit.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ccfde/common/digest.h"

namespace ccfde::testing {
namespace {

// LUKS2 binary header fields (cryptsetup's docs/on-disk-format-luks2.pdf): hdr_size (big-endian
// u64) at 8, checksum_alg at 72, csum at 448 (64 bytes); the JSON area follows at 4096.
constexpr std::size_t kHdrSizeOffset = 8;
constexpr std::size_t kChecksumAlgOffset = 72;
constexpr std::size_t kChecksumOffset = 448;
constexpr std::size_t kChecksumSize = 64;
constexpr std::size_t kBinaryHeaderSize = 4096;

std::uint64_t read_be64(const std::vector<std::uint8_t>& bytes, std::size_t offset) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = value << 8 | bytes[offset + i];
  return value;
}

bool edit_copy(std::fstream& file, std::uint64_t offset, std::string_view integrity,
               std::uint64_t* size_out) {
  std::vector<std::uint8_t> head(kBinaryHeaderSize);
  file.seekg(static_cast<std::streamoff>(offset));
  file.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  if (!file || std::memcmp(head.data(), offset == 0 ? "LUKS\xba\xbe" : "SKUL\xba\xbe", 6) != 0) {
    ADD_FAILURE() << "no LUKS2 header copy at offset " << offset;
    return false;
  }
  const std::uint64_t size = read_be64(head, kHdrSizeOffset);
  if (size <= kBinaryHeaderSize || size > (4u << 20) ||
      std::string(reinterpret_cast<const char*>(head.data() + kChecksumAlgOffset)) != "sha256") {
    ADD_FAILURE() << "unexpected LUKS2 header (size " << size << ")";
    return false;
  }
  std::vector<std::uint8_t> header(size);
  file.seekg(static_cast<std::streamoff>(offset));
  file.read(reinterpret_cast<char*>(header.data()), static_cast<std::streamsize>(size));
  const char* json_text = reinterpret_cast<const char*>(header.data() + kBinaryHeaderSize);
  auto json = nlohmann::json::parse(
      std::string(json_text, strnlen(json_text, size - kBinaryHeaderSize)), nullptr, false);
  if (json.is_discarded() || !json["segments"].contains("0")) {
    ADD_FAILURE() << "the LUKS2 JSON area has no segment 0";
    return false;
  }
  auto& segment = json["segments"]["0"];
  if (integrity.empty()) {
    segment.erase("integrity");
  } else {
    segment["integrity"] = {{"type", std::string(integrity)},
                            {"journal_encryption", "none"},
                            {"journal_integrity", "none"}};
  }
  const std::string text = json.dump();
  if (text.size() >= size - kBinaryHeaderSize) {
    ADD_FAILURE() << "the edited JSON does not fit the JSON area";
    return false;
  }
  std::fill(header.begin() + kBinaryHeaderSize, header.end(), 0);
  std::memcpy(header.data() + kBinaryHeaderSize, text.data(), text.size());
  std::fill_n(header.begin() + kChecksumOffset, kChecksumSize, 0);
  const auto sum = digest(DigestAlgorithm::kSha256, header);
  if (!sum.ok()) {
    ADD_FAILURE() << sum.status().to_string();
    return false;
  }
  std::copy(sum->begin(), sum->end(), header.begin() + kChecksumOffset);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(size));
  *size_out = size;
  return static_cast<bool>(file);
}

}  // namespace

void set_segment_integrity(const std::filesystem::path& image, std::string_view integrity) {
  std::fstream file(image, std::ios::binary | std::ios::in | std::ios::out);
  if (!file) {
    ADD_FAILURE() << "cannot open " << image;
    return;
  }
  std::uint64_t size = 0;
  if (!edit_copy(file, 0, integrity, &size)) return;
  // The secondary copy follows the primary one (its offset is the primary's hdr_size).
  std::uint64_t secondary_size = 0;
  edit_copy(file, size, integrity, &secondary_size);
}

}  // namespace ccfde::testing
