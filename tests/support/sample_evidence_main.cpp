// SPDX-License-Identifier: Apache-2.0
// ccfde-sample-evidence OUTDIR: writes synthetic evidence for the demo and for tests that must
// run without the test vectors: ccel.bin (a TCG event log), quote.bin (a TDX quote v4 whose
// RTMRs equal the log's replay), root.pem (the throwaway test root of its PCK chain), and
// quote-mismatch.bin (the same, with RTMR2 changed), and TDX collateral directories for quote.bin
// (valid 2026-01-01 .. 2027-01-01): collateral/ (UpToDate), collateral-outofdate/ (the quote meets
// an OutOfDate level) and collateral-revoked/ (the PCK CRL lists the quote's PCK certificate).
// Synthetic: never trust these anywhere.
#include <cstdio>
#include <filesystem>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/testing/sample_collateral.h"
#include "ccfde/testing/sample_evidence.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) {
    std::fprintf(stderr, "cannot create %s: %s\n", out.c_str(), error.message().c_str());
    return 2;
  }
  using namespace ccfde::testing;
  const auto events = default_sample_events();
  SampleQuoteSpec spec;
  spec.rtmr = replay_sample_events(events);
  for (std::size_t i = 0; i < spec.report_data.size(); ++i) {
    spec.report_data[i] = static_cast<std::uint8_t>(i);
  }
  const SamplePckChain chain = build_sample_pck_chain();
  const SampleQuote quote = build_sample_tdx_quote(spec, chain);
  spec.rtmr[2][0] ^= 0xff;
  const SampleQuote mismatch = build_sample_tdx_quote(spec);

  for (const auto& [name, status] :
       {std::pair{"ccel.bin",
                  ccfde::write_file(out / "ccel.bin", build_sample_event_log(events, 64))},
        std::pair{"quote.bin", ccfde::write_file(out / "quote.bin", quote.quote)},
        std::pair{"root.pem", ccfde::write_file(out / "root.pem", ccfde::as_bytes(quote.root_pem))},
        std::pair{"quote-mismatch.bin",
                  ccfde::write_file(out / "quote-mismatch.bin", mismatch.quote)},
        std::pair{"root-mismatch.pem", ccfde::write_file(out / "root-mismatch.pem",
                                                         ccfde::as_bytes(mismatch.root_pem))}}) {
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, status.to_string().c_str());
      return 2;
    }
  }
  SampleCollateralSpec out_of_date;
  out_of_date.newer_level_first = true;
  out_of_date.platform_status = "OutOfDate";
  SampleCollateralSpec revoked;
  revoked.revoke_pck = true;
  for (const auto& [name, collateral_spec] :
       {std::pair{"collateral", SampleCollateralSpec{}},
        std::pair{"collateral-outofdate", out_of_date}, std::pair{"collateral-revoked", revoked}}) {
    const auto status =
        write_sample_collateral(build_sample_collateral(chain, collateral_spec), out / name);
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, status.to_string().c_str());
      return 2;
    }
  }
  std::printf("synthetic evidence written to %s (test PKI, not hardware)\n", out.c_str());
  return 0;
}
