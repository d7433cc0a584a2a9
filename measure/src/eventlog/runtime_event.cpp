// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/runtime_event.h"

#include <algorithm>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"

namespace ccfde::measure {
namespace {

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

void put_u16(std::vector<std::uint8_t>& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}

}  // namespace

std::vector<std::uint8_t> aael_event_data(std::string_view text) {
  std::vector<std::uint8_t> data;
  data.reserve(8 + text.size());
  put_u32(data, kTaggedEventAael);
  put_u32(data, static_cast<std::uint32_t>(text.size()));
  const auto bytes = as_bytes(text);
  data.insert(data.end(), bytes.begin(), bytes.end());
  return data;
}

Result<AaelRecord> make_aael_record(std::string_view text) {
  const std::vector<std::uint8_t> data = aael_event_data(text);
  CCFDE_ASSIGN_OR_RETURN(auto event_digest, digest(DigestAlgorithm::kSha384, data));
  AaelRecord record;
  put_u32(record.bytes, kRtmr3CcMrIndex);
  put_u32(record.bytes, kEvEventTag);
  put_u32(record.bytes, 1);
  put_u16(record.bytes, kTcgAlgSha384);
  record.bytes.insert(record.bytes.end(), event_digest.begin(), event_digest.end());
  put_u32(record.bytes, static_cast<std::uint32_t>(data.size()));
  record.bytes.insert(record.bytes.end(), data.begin(), data.end());
  record.digest = std::move(event_digest);
  return record;
}

std::optional<std::string> verified_aael_text(const TcgEvent& event) {
  if (event.register_index != kRtmr3CcMrIndex || event.event_type != kEvEventTag) {
    return std::nullopt;
  }
  const auto* tagged = std::get_if<TaggedEvent>(&event.decoded);
  if (tagged == nullptr || tagged->tagged_event_id != kTaggedEventAael) return std::nullopt;
  const Bytes* recorded = event.digest_for(kTcgAlgSha384);
  if (recorded == nullptr) return std::nullopt;
  auto computed = digest(DigestAlgorithm::kSha384, event.data);
  if (!computed.ok() || *computed != *recorded) return std::nullopt;
  // Trailing bytes after the tagged data would be extended but not shown: not a clean record.
  if (event.data.size() != 8 + tagged->tagged_data.size()) return std::nullopt;
  return std::string(tagged->tagged_data.begin(), tagged->tagged_data.end());
}

bool is_first_boot_id(std::string_view id) noexcept {
  return id.size() == kFirstBootIdSize && std::ranges::all_of(id, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<std::string> first_boot_event_text(std::string_view id) {
  if (!is_first_boot_id(id)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "first-boot id must be {} lowercase hex digits, got {} characters",
                      kFirstBootIdSize, id.size());
  }
  return std::string(kFirstBootEventPrefix) + std::string(id);
}

std::optional<std::string> first_boot_id_of(std::string_view text) {
  if (!text.starts_with(kFirstBootEventPrefix)) return std::nullopt;
  const std::string_view id = text.substr(kFirstBootEventPrefix.size());
  if (!is_first_boot_id(id)) return std::nullopt;
  return std::string(id);
}

}  // namespace ccfde::measure
