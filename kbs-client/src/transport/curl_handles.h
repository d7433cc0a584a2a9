// SPDX-License-Identifier: Apache-2.0
// Owning wrappers for libcurl handles.
#pragma once

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <cstring>
#include <string>
#include <utility>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs_client::internal {

using CurlPtr = CHandle<CURL, curl_easy_cleanup>;
using CurlUrlPtr = CHandle<CURLU, curl_url_cleanup>;

// An owned curl_slist. curl_slist_append returns the head it was given for a non-empty list (and
// leaves the list untouched when it fails), so the head is only ever replaced, never freed, by
// append: resetting an owning pointer to its result would free the list that is still in use.
class CurlHeaderList {
 public:
  CurlHeaderList() = default;
  ~CurlHeaderList() { wipe_and_free(head_); }
  CurlHeaderList(const CurlHeaderList&) = delete;
  CurlHeaderList& operator=(const CurlHeaderList&) = delete;
  CurlHeaderList(CurlHeaderList&& other) noexcept : head_(std::exchange(other.head_, nullptr)) {}
  CurlHeaderList& operator=(CurlHeaderList&& other) noexcept {
    if (this != &other) {
      wipe_and_free(head_);
      head_ = std::exchange(other.head_, nullptr);
    }
    return *this;
  }

  // Appends a copy of `line` ("Name: value"). kInternal when libcurl cannot allocate; the list
  // is then unchanged. The copies are wiped when the list is freed: a header may carry a bearer
  // token.
  Status append(const std::string& line) {
    curl_slist* head = curl_slist_append(head_, line.c_str());
    if (head == nullptr) return make_error(ErrorCode::kInternal, "curl_slist_append failed");
    head_ = head;
    return {};
  }

  // The list for CURLOPT_HTTPHEADER (nullptr when empty); still owned by this object.
  curl_slist* get() const noexcept { return head_; }

 private:
  static void wipe_and_free(curl_slist* head) noexcept {
    for (curl_slist* node = head; node != nullptr; node = node->next) {
      if (node->data != nullptr) OPENSSL_cleanse(node->data, std::strlen(node->data));
    }
    curl_slist_free_all(head);
  }
  curl_slist* head_ = nullptr;
};

}  // namespace ccfde::kbs_client::internal
