// SPDX-License-Identifier: Apache-2.0
// SecretBytes: the only type that holds key material in cc-fde.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ccfde {

// A fixed-size, move-only buffer for secrets (disk keys, private keys, content-encryption keys).
//
// - The bytes live in their own heap allocation, locked into memory with mlock (best effort: a
//   failure, e.g. RLIMIT_MEMLOCK, is recorded in is_locked() and is not an error) and excluded
//   from core dumps with MADV_DONTDUMP.
// - They are wiped with OPENSSL_cleanse when the object is destroyed, moved from, or wipe()d.
// - There is deliberately no operator<<, no fmt formatter and no conversion to string: a secret
//   can only leave through data()/span(), which callers pass to an API (libcryptsetup, OpenSSL).
class SecretBytes {
 public:
  // An empty secret (size 0).
  SecretBytes() noexcept = default;
  // `size` zero bytes.
  explicit SecretBytes(std::size_t size);
  // A copy of `bytes`. The caller remains responsible for wiping its own copy.
  static SecretBytes copy_of(std::span<const std::uint8_t> bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  std::uint8_t* data() noexcept { return data_; }
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<std::uint8_t> span() noexcept { return {data_, size_}; }
  std::span<const std::uint8_t> span() const noexcept { return {data_, size_}; }
  // Whether mlock succeeded for this buffer.
  bool is_locked() const noexcept { return locked_; }

  // Wipes and releases the buffer; size() becomes 0.
  void wipe() noexcept;

  // Constant-time comparison of contents (sizes compared first, not secret).
  bool equals(std::span<const std::uint8_t> other) const noexcept;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool locked_ = false;
};

}  // namespace ccfde
