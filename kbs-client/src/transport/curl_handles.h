// Owning wrappers for libcurl handles.
#pragma once

#include <curl/curl.h>

#include <string>
#include <utility>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"

namespace ccfde::kbs::internal {

using CurlPtr = CHandle<CURL, curl_easy_cleanup>;
using CurlUrlPtr = CHandle<CURLU, curl_url_cleanup>;

// An owned curl_slist. curl_slist_append returns the head it was given for a non-empty list (and
// leaves the list untouched when it fails), so the head is only ever replaced, never freed, by
// append: resetting an owning pointer to its result would free the list that is still in use.
class CurlHeaderList {
 public:
  CurlHeaderList() = default;
  ~CurlHeaderList() { curl_slist_free_all(head_); }
  CurlHeaderList(const CurlHeaderList&) = delete;
  CurlHeaderList& operator=(const CurlHeaderList&) = delete;
  CurlHeaderList(CurlHeaderList&& other) noexcept : head_(std::exchange(other.head_, nullptr)) {}
  CurlHeaderList& operator=(CurlHeaderList&& other) noexcept {
    if (this != &other) {
      curl_slist_free_all(head_);
      head_ = std::exchange(other.head_, nullptr);
    }
    return *this;
  }

  // Appends a copy of `line` ("Name: value"). kInternal when libcurl cannot allocate; the list
  // is then unchanged.
  Status append(const std::string& line) {
    curl_slist* head = curl_slist_append(head_, line.c_str());
    if (head == nullptr) return make_error(ErrorCode::kInternal, "curl_slist_append failed");
    head_ = head;
    return {};
  }

  // The list for CURLOPT_HTTPHEADER (nullptr when empty); still owned by this object.
  curl_slist* get() const noexcept { return head_; }

 private:
  curl_slist* head_ = nullptr;
};

}  // namespace ccfde::kbs::internal
