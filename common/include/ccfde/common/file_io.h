// SPDX-License-Identifier: Apache-2.0
// Whole-file reads and writes with size caps, for evidence files, sysfs and configfs attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ccfde/common/secret_bytes.h"
#include "ccfde/common/status.h"

namespace ccfde {

// Low-level loops over an open descriptor, for callers that map errno to a Status their own way.

// The read() size read_all uses unless told otherwise.
inline constexpr std::size_t kReadAllChunk = 16384;

// Writes all of `bytes` to `fd` from its current position, retrying write() after EINTR and after
// short writes. Returns 0 when every byte was written, else the errno of the failed write() (how
// many bytes reached the file before it is not reported). Does not close `fd`.
int write_all(int fd, std::span<const std::uint8_t> bytes);

// Replaces `out` with what `fd` holds from its current position to end of file, retrying read()
// after EINTR. Each read() asks for `chunk_size` bytes (precondition: chunk_size > 0). Stops
// early once `out` holds more than `max_size` bytes, so a caller detects an oversized file by
// out.size() > max_size without reading all of it. Returns 0 on end of file or early stop, else
// the errno of the failed read() with `out` holding the bytes read before it (out.size() is the
// offset of the failure).
int read_all(int fd, std::vector<std::uint8_t>& out, std::size_t max_size,
             std::size_t chunk_size = kReadAllChunk);

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

// Who besides the owner may access a secret file.
enum class SecretFileAccess {
  kAny,        // the file's mode is not judged (an operator's passphrase file)
  kOwnerOnly,  // a mode that lets group or others access the file is refused (a stored token)
};

// The exact bytes of the regular file `path` (nothing stripped), read straight into SecretBytes:
// the one reader of files that hold secrets. Errors: kNotFound (absent) or kIoError "cannot open
// <path>"; kIoError "cannot stat", "cannot read", "<path> shrank while being read";
// kInvalidArgument "<path> is not a regular file", "<path> holds N bytes (expected 1 to
// <max_size>)" and, with kOwnerOnly, "<path> has mode 0644, which lets group or others access it
// (chmod 600 it)".
Result<SecretBytes> read_secret_file(const std::filesystem::path& path, std::size_t max_size,
                                     SecretFileAccess access = SecretFileAccess::kAny);

}  // namespace ccfde
