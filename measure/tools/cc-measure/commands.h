// SPDX-License-Identifier: Apache-2.0
// The cc-measure subcommands. Each returns the process exit status (output.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ccfde/measure/platform.h"

namespace ccfde::cc_measure {

struct InfoOptions {
  bool json = false;
};
int run_info(const InfoOptions& options, const measure::PlatformPaths& paths);

struct QuoteOptions {
  std::string report_data_hex;  // empty: 64 zero bytes
  std::string out_file;         // empty: print the parsed evidence
  bool sample = false;          // the development-only `sample` source
  bool json = false;
};
int run_quote(const QuoteOptions& options, const measure::PlatformPaths& paths);

struct ShowOptions {
  std::string file;
  bool json = false;
};
int run_show(const ShowOptions& options);

struct EventLogOptions {
  std::string file;  // empty: the platform's CCEL, else its TPM log
  std::string ima_file;
  bool json = false;
};
int run_eventlog(const EventLogOptions& options, const measure::PlatformPaths& paths);

struct ReplayOptions {
  std::string eventlog_file;  // empty: the platform's log
  std::string ima_file;
  std::string quote_file;
  bool json = false;
};
int run_replay(const ReplayOptions& options, const measure::PlatformPaths& paths);

struct VerifyOptions {
  std::string file;
  std::string at;                 // RFC 3339
  std::string root_file;          // TDX: trusted root PEM (default: the embedded Intel SGX Root CA)
  std::string vcek_file;          // SNP: VCEK/VLEK in DER or PEM
  std::string chain_file;         // SNP: ASK/ASVK and ARK in PEM
  std::string collateral_dir;     // TDX: Intel PCS collateral directory (optional)
  std::string accept_tcb_status;  // TDX: comma-separated accepted TCB statuses
  bool forbid_debug = false;
  bool json = false;
};
int run_verify(const VerifyOptions& options);

struct PredictOptions {
  std::string kernel_file;
  std::string initrd_file;   // empty: no initrd
  std::string cmdline;       // the -append text
  std::string cmdline_file;  // or read from this file (one trailing newline dropped)
  // Non-zero: the kernel comes from a QEMU that patches its setup header (qemu_linux_loader.h),
  // with this much guest RAM below 4 GiB, in MiB.
  std::uint64_t qemu_below_4g_mib = 0;
  std::string format = "text";  // text (or JSON with --json), devkbs, trustee
  bool json = false;
  // --snp: the SEV-SNP launch digest of a QEMU launch of an OVMF AmdSev firmware instead.
  bool snp = false;
  std::string ovmf_file;
  std::string ovmf_hash;       // hex; empty: hash the firmware file's pages
  std::uint32_t vcpus = 0;     // 0: not given
  std::string vcpu_type;       // a QEMU CPU model name, or
  std::string vcpu_sig;        // the CPUID signature (decimal or 0x hex)
  std::string guest_features;  // decimal or 0x hex; empty: 0x1
};
int run_predict(const PredictOptions& options);

}  // namespace ccfde::cc_measure
