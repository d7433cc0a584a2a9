// SPDX-License-Identifier: Apache-2.0
// Value checks shared by the configuration file and the kernel command line; binding and unlock
// use normalize_uuid for the volumes they name. Each check returns an empty string when the value
// is acceptable, else what is wrong with it (for a message). Part of the config part's interface
// for the other agent parts, not for programs.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ccfde::agent::config_checks {

inline constexpr std::int64_t kMinTimeoutSeconds = 1;
inline constexpr std::int64_t kMaxTimeoutSeconds = 3600;
inline constexpr unsigned kMaxParallelFetches = 32;
inline constexpr std::size_t kMaxProfileName = 64;

// [A-Za-z0-9_.-]{1,64}.
std::string check_profile_name(std::string_view name);

// https://HOST[:PORT] with HOST a DNS name, IPv4 address or [IPv6] literal, PORT 1-65535, an
// optional single trailing '/', and no user info, path, query or fragment.
std::string check_url(std::string_view url);

// The URL as stored: check_url's form without the trailing '/'.
std::string normalize_url(std::string_view url);

// An absolute path without NUL bytes.
std::string check_absolute_path(std::string_view path);

// "sha256//" followed by base64std of 32 bytes.
std::string check_pin(std::string_view pin);

// scheme://host[:port] with scheme http, https, socks4, socks4a, socks5 or socks5h.
std::string check_proxy(std::string_view proxy);

// A UUID in 8-4-4-4-12 hex form (any case); the lowercase form, or nullopt.
std::optional<std::string> normalize_uuid(std::string_view uuid);

// A resource a profile allows: a Trustee path (printable ASCII without spaces, 1-256
// characters, as in a token) or such a prefix followed by '*' ("default/fde/*"); a lone "*" and a
// '*' anywhere else are refused.
std::string check_resource_pattern(std::string_view pattern);

// A systemd credential name as cc-fde reads one from the SMBIOS OEM strings: 1 to 255 characters
// of A-Z a-z 0-9 _ . @ - (so it can hold neither '=' nor ':', which end the name in an OEM
// string). "" when valid, else what is wrong.
std::string check_credential_name(std::string_view name);

// A segment cipher "cipher-mode" (e.g. "aes-xts-plain64"): lowercase letters, digits, '-', '_',
// ':' and '(' ')', 3-64 characters, and never "cipher_null".
std::string check_cipher(std::string_view cipher);

// The rd.cc-fde.* option names the configuration's kernel_command_line.allow may list.
inline constexpr std::string_view kCommandLineOptionList =
    "disable, config, url, ca, tee, timeout, volume-timeout, failure, measure, debug";
bool is_command_line_option(std::string_view name);

// Decimal seconds in [1, 3600]; nullopt otherwise.
std::optional<std::chrono::seconds> parse_seconds(std::string_view text);

}  // namespace ccfde::agent::config_checks
