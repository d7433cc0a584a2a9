// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/byte_reader.h"

#include <cassert>

namespace ccfde {

Status ByteReader::require(std::size_t count, std::string_view field) const {
  if (count > remaining()) {
    return make_error(ErrorCode::kTruncated, "{} at offset {} needs {} bytes, only {} left", field,
                      offset(), count, remaining());
  }
  return Status();
}

Result<std::span<const std::uint8_t>> ByteReader::bytes(std::size_t count, std::string_view field) {
  CCFDE_RETURN_IF_ERROR(require(count, field));
  auto view = bytes_.subspan(position_, count);
  position_ += count;
  return view;
}

Status ByteReader::skip(std::size_t count, std::string_view field) {
  CCFDE_RETURN_IF_ERROR(require(count, field));
  position_ += count;
  return Status();
}

namespace {
template <typename T>
T load_le(std::span<const std::uint8_t> bytes, std::size_t offset) {
  assert(offset + sizeof(T) <= bytes.size());
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value = static_cast<T>(value | static_cast<T>(T{bytes[offset + i]} << (8 * i)));
  }
  return value;
}
}  // namespace

std::uint16_t load_u16le(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return load_le<std::uint16_t>(bytes, offset);
}
std::uint32_t load_u32le(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return load_le<std::uint32_t>(bytes, offset);
}
std::uint64_t load_u64le(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return load_le<std::uint64_t>(bytes, offset);
}

}  // namespace ccfde
