// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/pe_authenticode.h"

#include <algorithm>
#include <string_view>

#include "ccfde/common/byte_reader.h"

namespace ccfde::measure {
namespace {

constexpr std::size_t kDosLfanewOffset = 0x3C;
constexpr std::size_t kCoffHeaderSize = 20;
constexpr std::uint16_t kPe32Magic = 0x10B;
constexpr std::uint16_t kPe32PlusMagic = 0x20B;
constexpr std::size_t kChecksumOffset = 64;  // in the optional header, PE32 and PE32+
constexpr std::size_t kSizeOfHeadersOffset = 60;
constexpr std::size_t kSectionHeaderSize = 40;
constexpr std::uint32_t kCertificateTableIndex = 4;

struct Range {
  std::size_t begin;
  std::size_t end;
};

Status require_range(std::span<const std::uint8_t> image, std::size_t begin, std::size_t size,
                     std::string_view what) {
  if (begin > image.size() || size > image.size() - begin) {
    return make_error(ErrorCode::kTruncated,
                      "PE image: {} at offset {} needs {} bytes, the image has {}", what, begin,
                      size, image.size());
  }
  return Status::ok_status();
}

}  // namespace

Result<std::vector<std::uint8_t>> authenticode_digest(std::span<const std::uint8_t> image,
                                                      DigestAlgorithm algorithm) {
  CCFDE_RETURN_IF_ERROR(require_range(image, 0, kDosLfanewOffset + 4, "the DOS header"));
  if (image[0] != 'M' || image[1] != 'Z') {
    return make_error(ErrorCode::kMalformed, "PE image: no \"MZ\" signature at offset 0");
  }
  const std::size_t pe_offset = load_u32le(image, kDosLfanewOffset);
  CCFDE_RETURN_IF_ERROR(
      require_range(image, pe_offset, 4 + kCoffHeaderSize, "the PE signature and COFF header"));
  if (image[pe_offset] != 'P' || image[pe_offset + 1] != 'E' || image[pe_offset + 2] != 0 ||
      image[pe_offset + 3] != 0) {
    return make_error(ErrorCode::kMalformed, "PE image: no \"PE\\0\\0\" signature at offset {}",
                      pe_offset);
  }
  const std::size_t coff = pe_offset + 4;
  const std::size_t section_count = load_u16le(image, coff + 2);
  const std::size_t optional_size = load_u16le(image, coff + 16);
  const std::size_t optional = coff + kCoffHeaderSize;
  CCFDE_RETURN_IF_ERROR(require_range(image, optional, optional_size, "the optional header"));
  CCFDE_RETURN_IF_ERROR(require_range(image, optional, 2, "the optional header magic"));
  const std::uint16_t magic = load_u16le(image, optional);
  std::size_t rva_count_offset = 0;
  std::size_t directories_offset = 0;
  if (magic == kPe32Magic) {
    rva_count_offset = 92;
    directories_offset = 96;
  } else if (magic == kPe32PlusMagic) {
    rva_count_offset = 108;
    directories_offset = 112;
  } else {
    return make_error(
        ErrorCode::kMalformed,
        "PE image: optional header magic {:#x} at offset {} is neither PE32 nor PE32+", magic,
        optional);
  }
  if (optional_size < rva_count_offset + 4) {
    return make_error(ErrorCode::kMalformed,
                      "PE image: the optional header ({} bytes) ends before NumberOfRvaAndSizes",
                      optional_size);
  }
  const std::size_t rva_count = load_u32le(image, optional + rva_count_offset);
  const bool has_certificate_entry = rva_count > kCertificateTableIndex;
  const std::size_t certificate_entry =
      optional + directories_offset + std::size_t{8} * kCertificateTableIndex;
  if (has_certificate_entry && certificate_entry + 8 > optional + optional_size) {
    return make_error(ErrorCode::kMalformed,
                      "PE image: NumberOfRvaAndSizes is {}, but the optional header ({} bytes) "
                      "ends before the Certificate Table entry",
                      rva_count, optional_size);
  }
  const std::size_t headers_size = load_u32le(image, optional + kSizeOfHeadersOffset);
  const std::size_t sections = optional + optional_size;
  CCFDE_RETURN_IF_ERROR(
      require_range(image, sections, section_count * kSectionHeaderSize, "the section table"));
  CCFDE_RETURN_IF_ERROR(require_range(image, 0, headers_size, "SizeOfHeaders"));
  if (headers_size < sections + section_count * kSectionHeaderSize) {
    return make_error(ErrorCode::kMalformed,
                      "PE image: SizeOfHeaders ({}) ends inside the section table (ends at {})",
                      headers_size, sections + section_count * kSectionHeaderSize);
  }

  std::vector<std::span<const std::uint8_t>> parts;
  const std::size_t checksum = optional + kChecksumOffset;
  parts.push_back(image.subspan(0, checksum));
  if (has_certificate_entry) {
    parts.push_back(image.subspan(checksum + 4, certificate_entry - checksum - 4));
    parts.push_back(image.subspan(certificate_entry + 8, headers_size - certificate_entry - 8));
  } else {
    parts.push_back(image.subspan(checksum + 4, headers_size - checksum - 4));
  }

  std::vector<Range> raw;
  for (std::size_t i = 0; i < section_count; ++i) {
    const std::size_t header = sections + i * kSectionHeaderSize;
    const std::size_t size = load_u32le(image, header + 16);
    const std::size_t pointer = load_u32le(image, header + 20);
    if (size == 0) continue;
    if (pointer > image.size() || size > image.size() - pointer) {
      return make_error(ErrorCode::kTruncated,
                        "PE image: section {} ({} bytes at offset {}) ends beyond the image ({} "
                        "bytes)",
                        i, size, pointer, image.size());
    }
    raw.push_back({pointer, pointer + size});
  }
  std::stable_sort(raw.begin(), raw.end(),
                   [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::size_t hashed = headers_size;
  for (const auto& range : raw) {
    parts.push_back(image.subspan(range.begin, range.end - range.begin));
    hashed += range.end - range.begin;
  }

  if (image.size() > hashed) {
    const std::size_t certificate_size =
        has_certificate_entry ? load_u32le(image, certificate_entry + 4) : 0;
    if (certificate_size > image.size() - hashed) {
      return make_error(ErrorCode::kMalformed,
                        "PE image: the certificate table ({} bytes) is larger than the {} bytes "
                        "after the last section",
                        certificate_size, image.size() - hashed);
    }
    parts.push_back(image.subspan(hashed, image.size() - hashed - certificate_size));
  }
  return digest(algorithm, parts);
}

}  // namespace ccfde::measure
