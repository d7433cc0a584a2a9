// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/jcs.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "ccfde/common/encoding.h"

namespace ccfde::kbs_client {
namespace {

// Decodes the UTF-8 sequence at `text[*pos]` into *out and advances *pos. Strict (RFC 3629): no
// overlong forms, no surrogates, nothing above U+10FFFF. Returns false on invalid input.
bool next_code_point(std::string_view text, std::size_t* pos, char32_t* out) {
  const auto lead = static_cast<std::uint8_t>(text[*pos]);
  std::size_t length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if (lead < 0x80) {
    *out = lead;
    ++*pos;
    return true;
  }
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    value = lead & 0x1Fu;
    minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    value = lead & 0x0Fu;
    minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    value = lead & 0x07u;
    minimum = 0x10000;
  } else {
    return false;
  }
  if (text.size() - *pos < length) return false;
  for (std::size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<std::uint8_t>(text[*pos + i]);
    if ((byte & 0xC0) != 0x80) return false;
    value = (value << 6) | (byte & 0x3Fu);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return false;
  *out = value;
  *pos += length;
  return true;
}

Result<std::u16string> to_utf16(std::string_view text) {
  std::u16string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = 0;
    const std::size_t at = pos;
    if (!next_code_point(text, &pos, &cp)) {
      return make_error(ErrorCode::kInvalidArgument, "invalid UTF-8 at byte {} of a JSON string",
                        at);
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

Status append_string(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = pos;
    char32_t cp = 0;
    if (!next_code_point(text, &pos, &cp)) {
      return make_error(ErrorCode::kInvalidArgument, "invalid UTF-8 at byte {} of a JSON string",
                        start);
    }
    switch (cp) {
      case U'"': out += "\\\""; break;
      case U'\\': out += "\\\\"; break;
      case U'\b': out += "\\b"; break;
      case U'\f': out += "\\f"; break;
      case U'\n': out += "\\n"; break;
      case U'\r': out += "\\r"; break;
      case U'\t': out += "\\t"; break;
      default:
        if (cp < 0x20) {
          out += "\\u00";
          out.push_back(kHex[cp >> 4]);
          out.push_back(kHex[cp & 0xF]);
        } else {
          out.append(text.substr(start, pos - start));
        }
    }
  }
  out.push_back('"');
  return Status();
}

// ECMAScript Number::toString(x) (ECMA-262 §6.1.6.1.20) for a finite double: the shortest
// round-trip digits (std::to_chars) placed by the ES rules.
Status append_number(double value, std::string& out) {
  if (!std::isfinite(value)) {
    return make_error(ErrorCode::kInvalidArgument, "JCS cannot represent NaN or Infinity");
  }
  if (value == 0) {  // +0 and -0
    out.push_back('0');
    return Status();
  }
  if (value < 0) {
    out.push_back('-');
    value = -value;
  }
  char buffer[64];
  auto [end, error] =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  if (error != std::errc()) return make_error(ErrorCode::kInternal, "to_chars failed");
  const std::string_view text(buffer, static_cast<std::size_t>(end - buffer));
  const std::size_t e = text.find('e');
  if (e == std::string_view::npos || e + 2 >= text.size()) {
    return make_error(ErrorCode::kInternal, "unexpected to_chars output");
  }
  std::string digits;
  for (char c : text.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string_view exponent_text = text.substr(e + 1);
  const bool negative_exponent = exponent_text.front() == '-';
  exponent_text.remove_prefix(1);  // to_chars always writes a sign
  int exponent = 0;
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
  if (negative_exponent) exponent = -exponent;

  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // the decimal point sits after n digits
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out.push_back('.');
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(n - 1 < 0 ? '-' : '+');
    out += std::to_string(n - 1 < 0 ? 1 - n : n - 1);
  }
  return Status();
}

Status append_value(const nlohmann::json& value, std::string& out, int depth) {
  // nlohmann's parser accepts arbitrary nesting; bound it so a hostile tree cannot exhaust the
  // stack here.
  if (depth > 512) return make_error(ErrorCode::kInvalidArgument, "JSON nested too deeply");
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::null: out += "null"; return Status();
    case Type::boolean: out += value.get<bool>() ? "true" : "false"; return Status();
    // JCS numbers are IEEE 754 doubles (RFC 8785 §3.2.2.3): integers beyond 2^53 round as they
    // would in ECMAScript.
    case Type::number_integer:
      return append_number(static_cast<double>(value.get<std::int64_t>()), out);
    case Type::number_unsigned:
      return append_number(static_cast<double>(value.get<std::uint64_t>()), out);
    case Type::number_float: return append_number(value.get<double>(), out);
    case Type::string: return append_string(value.get_ref<const std::string&>(), out);
    case Type::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& element : value) {
        if (!first) out.push_back(',');
        first = false;
        CCFDE_RETURN_IF_ERROR(append_value(element, out, depth + 1));
      }
      out.push_back(']');
      return Status();
    }
    case Type::object: {
      std::vector<std::pair<std::u16string, const nlohmann::json::object_t::value_type*>> members;
      members.reserve(value.size());
      for (const auto& member : value.get_ref<const nlohmann::json::object_t&>()) {
        CCFDE_ASSIGN_OR_RETURN(std::u16string key, to_utf16(member.first));
        members.emplace_back(std::move(key), &member);
      }
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (std::size_t i = 1; i < members.size(); ++i) {
        if (members[i].first == members[i - 1].first) {
          return make_error(ErrorCode::kInvalidArgument, "duplicate JSON member name \"{}\"",
                            escape_nonprintable(members[i].second->first));
        }
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [key, member] : members) {
        if (!first) out.push_back(',');
        first = false;
        CCFDE_RETURN_IF_ERROR(append_string(member->first, out));
        out.push_back(':');
        CCFDE_RETURN_IF_ERROR(append_value(member->second, out, depth + 1));
      }
      out.push_back('}');
      return Status();
    }
    case Type::binary:
    case Type::discarded: break;
  }
  return make_error(ErrorCode::kInvalidArgument, "JCS has no form for a {} JSON value",
                    value.type_name());
}

}  // namespace

Result<std::string> canonical_json(const nlohmann::json& value) {
  std::string out;
  CCFDE_RETURN_IF_ERROR(append_value(value, out, 0));
  return out;
}

}  // namespace ccfde::kbs_client
