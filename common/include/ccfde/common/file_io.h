// Whole-file reads and writes with size caps, for evidence files, sysfs and configfs attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ccfde/common/status.h"

namespace ccfde {

// Reads `path` to its end (sysfs files report a size of 4096 whatever they hold, so the reported
// size is not trusted). kNotFound when absent, kIoError on a read error, kInvalidArgument when the
// file holds more than `max_size` bytes.
Result<std::vector<std::uint8_t>> read_file(const std::filesystem::path& path,
                                            std::size_t max_size = std::size_t{64} << 20);

// As read_file, as text, with one trailing newline removed (sysfs/configfs text attributes).
Result<std::string> read_text_attribute(const std::filesystem::path& path,
                                        std::size_t max_size = 4096);

// Writes `bytes` with one write() call to an existing file opened O_WRONLY (no O_CREAT, no
// O_TRUNC semantics beyond what the file system does): the way configfs and sysfs attributes take
// a value. Reports a short write as kIoError.
Status write_attribute(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);

// Writes `bytes` to a new or truncated regular file with mode 0644 (for tool output files).
Status write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);

}  // namespace ccfde
