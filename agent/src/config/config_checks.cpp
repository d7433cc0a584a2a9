// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/config_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "ccfde/common/encoding.h"

namespace ccfde::agent::config_checks {
namespace {

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// A DNS name: dot-separated labels of [A-Za-z0-9-], not starting or ending with '-', 1-63 bytes
// each, 253 in all (an IPv4 address has this form too).
bool is_dns_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t start = 0;
  while (start <= host.size()) {
    const std::size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    start = dot + 1;
    if (dot == host.size()) break;
  }
  return true;
}

bool is_ipv6_literal(std::string_view inside) {
  return !inside.empty() && inside.size() <= 45 &&
         std::all_of(inside.begin(), inside.end(),
                     [](char c) { return is_hex(c) || c == ':' || c == '.'; }) &&
         inside.find(':') != std::string_view::npos;
}

// HOST[:PORT] as in a URL authority; "" when fine.
std::string check_authority(std::string_view authority) {
  if (authority.empty()) return "no host";
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 address";
    if (!is_ipv6_literal(authority.substr(1, close - 1))) return "invalid IPv6 address";
    host = authority.substr(0, close + 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "unexpected text after the IPv6 address";
      port = rest.substr(1);
      if (port.empty()) return "empty port";
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return "empty port";
    }
    if (!is_dns_name(host)) return "invalid host name";
  }
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return "port is not a number from 1 to 65535";
  }
  return "";
}

}  // namespace

std::string check_profile_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxProfileName) return "profile names have 1 to 64 characters";
  if (!std::all_of(name.begin(), name.end(),
                   [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; })) {
    return "profile names are made of A-Z a-z 0-9 _ . -";
  }
  return "";
}

std::string check_url(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return "not an https:// URL";
  std::string_view authority = url.substr(kScheme.size());
  if (authority.find('@') != std::string_view::npos) return "a URL with user info is not allowed";
  if (authority.find_first_of("?#") != std::string_view::npos)
    return "a URL with a query or fragment is not allowed";
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find('/') != std::string_view::npos)
    return "a URL with a path is not allowed (the protocol adds /kbs/v0/...)";
  if (std::any_of(authority.begin(), authority.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F;
      })) {
    return "a URL with spaces or control characters is not allowed";
  }
  return check_authority(authority);
}

std::string normalize_url(std::string_view url) {
  std::string out(url);
  if (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

std::string check_absolute_path(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.front() != '/') return "not an absolute path";
  if (path.find('\0') != std::string_view::npos) return "path contains a NUL byte";
  return "";
}

std::string check_pin(std::string_view pin) {
  constexpr std::string_view kPrefix = "sha256//";
  if (pin.substr(0, kPrefix.size()) != kPrefix) return "a pin has the form sha256//<base64>";
  auto digest = base64_decode(pin.substr(kPrefix.size()));
  if (!digest.ok() || digest->size() != 32)
    return "a pin is sha256// followed by the base64 of a 32-byte SHA-256 digest";
  return "";
}

std::string check_proxy(std::string_view proxy) {
  const std::size_t separator = proxy.find("://");
  if (separator == std::string_view::npos) return "a proxy has the form scheme://host[:port]";
  const std::string_view scheme = proxy.substr(0, separator);
  constexpr std::string_view kSchemes[] = {"http",    "https",  "socks4",
                                           "socks4a", "socks5", "socks5h"};
  if (std::find(std::begin(kSchemes), std::end(kSchemes), scheme) == std::end(kSchemes))
    return "proxy scheme must be http, https, socks4, socks4a, socks5 or socks5h";
  std::string_view authority = proxy.substr(separator + 3);
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find_first_of("@/?#") != std::string_view::npos)
    return "a proxy URL has no user info, path, query or fragment";
  return check_authority(authority);
}

std::string check_resource_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) return "must be 1 to 256 characters";
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const auto c = static_cast<unsigned char>(pattern[i]);
    if (c <= 0x20 || c >= 0x7f) return fmt::format("character {} is not printable ASCII", i);
    if (c == '*' && i + 1 != pattern.size()) return "'*' may only end a prefix";
  }
  if (pattern == "*") return "a lone '*' would allow every resource: name a prefix";
  return {};
}

std::string check_credential_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return "must be 1 to 255 characters";
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '@' || c == '-';
    if (!ok) return fmt::format("character {} is not one of A-Z a-z 0-9 _ . @ -", i);
  }
  return {};
}

std::string check_cipher(std::string_view cipher) {
  if (cipher.size() < 3 || cipher.size() > 64) return "must be 3 to 64 characters";
  for (char c : cipher) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == ':' || c == '(' || c == ')';
    if (!ok) return "not a cipher-mode name (lowercase, e.g. aes-xts-plain64)";
  }
  if (cipher.find("cipher_null") != std::string_view::npos || cipher.substr(0, 5) == "null-") {
    return "the null cipher does not encrypt";
  }
  if (cipher.find('-') == std::string_view::npos) return "expected cipher-mode";
  return {};
}

bool is_command_line_option(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kKnown = {
      "disable", "config",         "url",     "ca",      "tee",
      "timeout", "volume-timeout", "failure", "measure", "debug"};
  return std::ranges::find(kKnown, name) != kKnown.end();
}

std::optional<std::string> normalize_uuid(std::string_view uuid) {
  if (uuid.size() != 36) return std::nullopt;
  std::string out;
  out.reserve(uuid.size());
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    const char c = uuid[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      out.push_back(c);
    } else {
      if (!is_hex(c)) return std::nullopt;
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

std::optional<std::chrono::seconds> parse_seconds(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      value < kMinTimeoutSeconds || value > kMaxTimeoutSeconds) {
    return std::nullopt;
  }
  return std::chrono::seconds(value);
}

}  // namespace ccfde::agent::config_checks
