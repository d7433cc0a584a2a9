// The fdectl subcommands. Each returns the process exit status: 0 success, 1 the broker refused
// (attestation, policy, resource), 2 bad input or any other error.
#pragma once

#include <string>
#include <vector>

namespace ccfde::fdectl {

struct KbsGetOptions {
  std::string url;
  std::string resource;
  std::string ca_file;
  std::vector<std::string> pins;  // sha256//BASE64 of the broker's SPKI
  std::string tee = "auto";       // auto | tdx | snp | sample
  std::string protocol = "trustee";
  std::string out_file;
  std::string platform_root;
  unsigned timeout_seconds = 60;
  bool insecure_http = false;
};
int run_kbs_get(const KbsGetOptions& options);

}  // namespace ccfde::fdectl
