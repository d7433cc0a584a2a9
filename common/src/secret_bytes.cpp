// SPDX-License-Identifier: Apache-2.0
#include "ccfde/common/secret_bytes.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <utility>

namespace ccfde {

namespace {

// Secrets get whole pages of their own, so that mlock and MADV_DONTDUMP cover exactly them.
std::size_t mapping_size(std::size_t size) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (size + page - 1) / page * page;
}

}  // namespace

SecretBytes::SecretBytes(std::size_t size) : size_(size) {
  if (size_ == 0) return;
  void* mapping = mmap(nullptr, mapping_size(size_), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<std::uint8_t*>(mapping);  // anonymous mappings are zero-filled
  (void)madvise(mapping, mapping_size(size_), MADV_DONTDUMP);
  // Best effort: an unlocked secret is still wiped; is_locked() reports what happened.
  locked_ = mlock(mapping, mapping_size(size_)) == 0;
}

SecretBytes SecretBytes::copy_of(std::span<const std::uint8_t> bytes) {
  SecretBytes secret(bytes.size());
  if (!bytes.empty()) std::memcpy(secret.data_, bytes.data(), bytes.size());
  return secret;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  wipe();
}

void SecretBytes::wipe() noexcept {
  if (data_ == nullptr) return;
  OPENSSL_cleanse(data_, size_);
  if (locked_) (void)munlock(data_, mapping_size(size_));
  (void)munmap(data_, mapping_size(size_));
  data_ = nullptr;
  size_ = 0;
  locked_ = false;
}

bool SecretBytes::equals(std::span<const std::uint8_t> other) const noexcept {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_, other.data(), size_) == 0;
}

}  // namespace ccfde
