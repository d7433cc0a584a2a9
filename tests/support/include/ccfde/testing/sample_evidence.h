// SPDX-License-Identifier: Apache-2.0
// Synthetic evidence for tests and the demo: a CCEL-style TCG event log and a TDX quote v4 whose
// RTMRs match its replay, signed through a freshly generated test PCK chain. Never for production:
// the chain's root is a throwaway test root, and the quote proves nothing about any hardware.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/status.h"

namespace ccfde::testing {

// One event of a synthetic log: CC MR index (1..4 = RTMR0..3), TCG event type, event data. The
// SHA-384 digest is computed over the data.
struct SampleEvent {
  std::uint32_t mr_index;
  std::uint32_t type;
  std::string data;
};

// A record whose SHA-384 digest is given: what firmware logs when it measures something other
// than the event data (an image's Authenticode digest, the payload of a tagged event).
struct SampleRecord {
  std::uint32_t mr_index;
  std::uint32_t type;
  std::vector<std::uint8_t> data;
  std::vector<std::uint8_t> sha384;  // 48 bytes
};

// A TCG crypto-agile log as firmware writes the CCEL: a Spec ID Event03 header (pcrIndex 1,
// SHA-384 only) followed by the events, then `padding` bytes of 0xFF.
std::vector<std::uint8_t> build_sample_event_log(const std::vector<SampleEvent>& events,
                                                 std::size_t padding = 0);
std::vector<std::uint8_t> build_sample_event_log(const std::vector<SampleRecord>& records,
                                                 std::size_t padding = 0);

// `events` as records, each with the SHA-384 of its data.
std::vector<SampleRecord> sample_records(const std::vector<SampleEvent>& events);

// RTMR0..3 as replaying `events` gives them (SHA-384 extend from zero).
std::array<std::array<std::uint8_t, 48>, 4> replay_sample_events(
    const std::vector<SampleEvent>& events);

// A plausible boot: firmware, configuration, bootloader and kernel command line events.
std::vector<SampleEvent> default_sample_events();

struct SampleQuoteSpec {
  std::array<std::array<std::uint8_t, 48>, 4> rtmr{};
  std::array<std::uint8_t, 64> report_data{};
  std::uint64_t td_attributes = 0;  // bit 0 = DEBUG
  // MRTD; unset: 48 bytes of 0x22 (what every sample quote carried before this field existed).
  std::optional<std::array<std::uint8_t, 48>> mr_td;
  // MRCONFIGID (e.g. an init-data digest); unset: zero.
  std::optional<std::array<std::uint8_t, 48>> mr_config_id;
  // TEE_TCB_SVN: byte 0 the TDX module's SVN, byte 1 its major version (0: no module identity).
  std::array<std::uint8_t, 16> tee_tcb_svn = {3, 0, 4};
};

struct SampleQuote {
  std::vector<std::uint8_t> quote;  // TDX quote v4, 632 signed bytes + signature data
  std::string root_pem;             // the test root the PCK chain ends at
};

// Builds and signs a TDX quote v4: attestation key, QE report bound to it, QE report signed by a
// test PCK leaf carrying an SGX extension (FMSPC 00906ed50000, PCESVN 11), chain leaf <-
// "Intel SGX PCK Platform CA" <- test "Intel SGX Root CA", valid 2020-01-01 .. 2040-01-01.
SampleQuote build_sample_tdx_quote(const SampleQuoteSpec& spec);

// A test PCK chain that can sign many quotes (so a verifier can be configured with its root before
// the quotes exist): keys and certificates of the test root, the platform CA and the PCK leaf.
struct SamplePckChain {
  EvpPkeyPtr root_key;
  EvpPkeyPtr platform_key;
  EvpPkeyPtr pck_key;
  X509Ptr root;
  X509Ptr platform;
  X509Ptr pck;
  std::string root_pem;
};

// A fresh chain as build_sample_tdx_quote(spec) describes it.
SamplePckChain build_sample_pck_chain();

// As build_sample_tdx_quote(spec), signed through `chain` (a fresh attestation key per quote).
SampleQuote build_sample_tdx_quote(const SampleQuoteSpec& spec, const SamplePckChain& chain);

// `chain` as PEM, private keys included (TEST KEY MATERIAL: store it with mode 0600): for the root,
// the platform CA and the PCK leaf in that order, a PRIVATE KEY block (PKCS#8, unencrypted)
// followed by its CERTIFICATE block.
std::string pck_chain_to_pem(const SamplePckChain& chain);

// The inverse of pck_chain_to_pem. kMalformed unless the text holds exactly those six PEM blocks
// in that order, each certificate carries the public half of the key before it, and each
// certificate is signed by the one above it (the root by itself).
Result<SamplePckChain> pck_chain_from_pem(std::string_view pem);

}  // namespace ccfde::testing
