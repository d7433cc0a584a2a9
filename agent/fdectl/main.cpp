// fdectl: the operator's tool for cc-fde volumes. Today: `fdectl kbs get`, attestation and
// retrieval of one resource from a key broker (enroll, list, test, rotate, unbind come next).
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace ccfde::fdectl;
  CLI::App app{
      "fdectl: manage cc-fde encrypted volumes.\n"
      "Exit status: 0 success, 1 the broker refused, 2 bad input or error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fdectl 0.1.0");

  auto* kbs = app.add_subcommand("kbs", "Talk to a key broker");
  kbs->require_subcommand(1);
  KbsGetOptions get;
  auto* get_command =
      kbs->add_subcommand("get", "Attest this VM and fetch one resource from a key broker");
  get_command->add_option("--url", get.url, "Broker base URL, e.g. https://kbs.example:8080")
      ->required();
  get_command->add_option("--resource", get.resource, "Resource path REPO/TYPE/TAG")->required();
  get_command->add_option("--ca", get.ca_file,
                          "CA bundle (PEM) that signs the broker's certificate");
  get_command->add_option("--pin", get.pins,
                          "Pin the broker's public key: sha256//BASE64 of its SPKI (repeatable)");
  get_command->add_option("--tee", get.tee, "Evidence: auto, tdx, snp or sample (development only)")
      ->check(CLI::IsMember({"auto", "tdx", "snp", "sample"}));
  get_command->add_option("--protocol", get.protocol, "Broker protocol: trustee or ita")
      ->check(CLI::IsMember({"trustee", "ita"}));
  get_command->add_option("--out", get.out_file,
                          "Write the resource to FILE (mode 0600); default: print only its "
                          "length and SHA-256");
  get_command->add_option("--timeout", get.timeout_seconds,
                          "Overall deadline in seconds, retries included (default 60)");
  get_command->add_option("--platform-root", get.platform_root,
                          "Prefix for kernel interface paths (testing)");
  get_command->add_flag("--insecure-http", get.insecure_http,
                        "Allow a plain http:// URL (INSECURE: development only)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (*get_command) return run_kbs_get(get);
  return 2;
}
