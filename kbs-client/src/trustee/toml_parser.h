// SPDX-License-Identifier: Apache-2.0
// toml++ (header-only, see CMakeLists.txt) as the Trustee client's TOML parsers include it.
//
// toml++ 3.3.0 (Debian 12's libtomlplusplus-dev) checks some of its own invariants with
// TOML_ASSERT_ASSUME, and malformed input can break one that its code then handles anyway: for
// "[ = 1", parse_key (toml++/impl/parser.inl) asserts a key-starting character and, one line later,
// answers the same case with a parse error. With assertions on (Debug builds, the fuzz build) the
// assertion aborts the process; with NDEBUG it becomes TOML_ASSUME, which clang compiles to
// __builtin_assume: an optimiser assumption that untrusted input must never be able to falsify.
// Both are neutralised here: NDEBUG is unset while the header is read, so TOML_ASSERT_ASSUME means
// TOML_ASSERT, and TOML_ASSERT checks nothing. The parser's own error paths then decide, as they do
// in a GCC release build, and every malformed document is a toml::parse_error.
#pragma once

#pragma push_macro("NDEBUG")
#undef NDEBUG
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>
#undef TOML_ASSERT
#pragma pop_macro("NDEBUG")
