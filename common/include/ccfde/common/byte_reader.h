// SPDX-License-Identifier: Apache-2.0
// ByteReader: a bounds-checked little-endian cursor over untrusted bytes.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "ccfde/common/status.h"

namespace ccfde {

// Reads fixed-size fields in order. Every read names the field it reads, so a short input yields
// kTruncated with "<field> at offset N needs K bytes, only M left". The reader never reads past
// the span it was given; a failed read leaves the position unchanged.
class ByteReader {
 public:
  // `base_offset` is added to reported offsets, for readers over a slice of a larger input.
  explicit ByteReader(std::span<const std::uint8_t> bytes, std::size_t base_offset = 0) noexcept
      : bytes_(bytes), base_offset_(base_offset) {}

  // Offset of the next byte, relative to the start of the whole input (base_offset included).
  std::size_t offset() const noexcept { return base_offset_ + position_; }
  // Position within this reader's span.
  std::size_t position() const noexcept { return position_; }
  std::size_t remaining() const noexcept { return bytes_.size() - position_; }
  bool at_end() const noexcept { return position_ == bytes_.size(); }
  // The not yet consumed bytes.
  std::span<const std::uint8_t> rest() const noexcept { return bytes_.subspan(position_); }

  Result<std::uint8_t> u8(std::string_view field) { return read_le<std::uint8_t>(field); }
  Result<std::uint16_t> u16le(std::string_view field) { return read_le<std::uint16_t>(field); }
  Result<std::uint32_t> u32le(std::string_view field) { return read_le<std::uint32_t>(field); }
  Result<std::uint64_t> u64le(std::string_view field) { return read_le<std::uint64_t>(field); }

  // The next `count` bytes, as a view into the input.
  Result<std::span<const std::uint8_t>> bytes(std::size_t count, std::string_view field);

  // The next N bytes copied into an array.
  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> array(std::string_view field) {
    CCFDE_ASSIGN_OR_RETURN(auto view, bytes(N, field));
    std::array<std::uint8_t, N> out{};
    std::memcpy(out.data(), view.data(), N);
    return out;
  }

  // Advances by `count` bytes.
  Status skip(std::size_t count, std::string_view field);

  // kTruncated unless at least `count` bytes remain; does not advance.
  Status require(std::size_t count, std::string_view field) const;

 private:
  template <typename T>
  Result<T> read_le(std::string_view field) {
    CCFDE_RETURN_IF_ERROR(require(sizeof(T), field));
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      value = static_cast<T>(value | static_cast<T>(T{bytes_[position_ + i]} << (8 * i)));
    }
    position_ += sizeof(T);
    return value;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t base_offset_ = 0;
  std::size_t position_ = 0;
};

// Little-endian loads from a span known to be long enough (checked by assert only): for parsers
// that have already validated the overall size of a fixed layout.
std::uint16_t load_u16le(std::span<const std::uint8_t> bytes, std::size_t offset);
std::uint32_t load_u32le(std::span<const std::uint8_t> bytes, std::size_t offset);
std::uint64_t load_u64le(std::span<const std::uint8_t> bytes, std::size_t offset);

}  // namespace ccfde
