// SPDX-License-Identifier: Apache-2.0
// devkbs: a development key broker speaking Trustee's KBS protocol 0.4.0 over HTTPS on loopback,
// for tests, the VM test and the README demo. Not a production broker.
//
// Prints one JSON line on stdout once listening:
//   {"address":"127.0.0.1","port":PORT,"url":"https://127.0.0.1:PORT","ca":"/abs/ca.pem"|null,
//    "certificate":"/abs/server.pem","admin_token_file":"/abs/admin-token",
//    "state_dir":"/abs/dir","pid":PID,"allow_sample":BOOL}
// then serves until SIGTERM or SIGINT. Request logs (method, path, status) go to stderr.
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "ccfde/common/encoding.h"
#include "ccfde/common/file_io.h"
#include "ccfde/common/guarded_main.h"
#include "ccfde/devkbs/broker.h"
#include "ccfde/devkbs/server.h"
#include "private_files.h"

namespace {

using ccfde::ErrorCode;
using ccfde::Result;
using ccfde::Status;

struct ListenAddress {
  std::string host;
  int port = 0;
};

// "HOST:PORT" or "[V6]:PORT".
Result<ListenAddress> parse_listen(const std::string& text) {
  std::string host;
  std::string port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string::npos) {
      return ccfde::make_error(ErrorCode::kInvalidArgument, "--listen {}: expected [HOST]:PORT",
                               text);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      return ccfde::make_error(ErrorCode::kInvalidArgument, "--listen {}: expected HOST:PORT",
                               text);
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int value = 0;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      (value = std::stoi(port)) > 65535 || host.empty()) {
    return ccfde::make_error(ErrorCode::kInvalidArgument, "--listen {}: bad host or port", text);
  }
  return ListenAddress{host, value};
}

// The admin token from `path`, or a fresh random one written there (mode 0600).
Result<std::string> load_or_create_admin_token(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::exists(path, error)) {
    CCFDE_ASSIGN_OR_RETURN(const ccfde::SecretBytes secret, ccfde::read_secret_file(path, 4096));
    // devkbs is a development broker: its token lives in a std::string from here on.
    std::string token(ccfde::as_chars(secret.span()));
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (token.empty()) {
      return ccfde::make_error(ErrorCode::kInvalidArgument, "admin token file {} is empty",
                               path.string());
    }
    return token;
  }
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return ccfde::make_error(ErrorCode::kCryptoError, "RAND_bytes failed");
  }
  std::string token = ccfde::hex_encode(random);
  OPENSSL_cleanse(random.data(), random.size());
  CCFDE_RETURN_IF_ERROR(ccfde::devkbs::write_private_file(path, ccfde::as_bytes(token + "\n")));
  return token;
}

Result<std::string> read_pem(const std::string& path) {
  if (path.empty()) return std::string();
  CCFDE_ASSIGN_OR_RETURN(auto bytes, ccfde::read_file(path, std::size_t{1} << 20));
  return std::string(ccfde::as_chars(bytes));
}

int fail(const Status& status) {
  std::cerr << "devkbs: " << status.to_string() << "\n";
  return 1;
}

int run_main(int argc, char** argv) {
  CLI::App app{
      "devkbs: a development key broker (Trustee KBS protocol 0.4.0 over HTTPS). For tests and "
      "demos only."};
  std::string state_dir;
  std::string listen = "127.0.0.1:8080";
  bool listen_any = false;
  std::string tls_cert, tls_key, tdx_root, snp_ca, admin_token_file;
  std::string tdx_collateral, tdx_accept_tcb_status;
  bool allow_sample = false;
  bool snp_ca_unpinned_test_only = false;
  bool quiet = false;
  unsigned session_timeout = 300;
  unsigned delay_ms = 0;
  unsigned fail_first = 0;
  app.add_option("--state-dir", state_dir, "Directory of resources, policy, PKI and admin token")
      ->required();
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_flag("--listen-any", listen_any, "Allow a non-loopback listen address");
  app.add_option("--tls-cert", tls_cert, "Server certificate PEM (default: generated)");
  app.add_option("--tls-key", tls_key, "Server private key PEM (with --tls-cert)");
  app.add_flag("--allow-sample", allow_sample, "Accept the sample TEE (no hardware evidence)");
  app.add_option("--tdx-root", tdx_root,
                 "Intel SGX Root CA PEM that TDX PCK chains must end at (default: Intel's)");
  app.add_option("--tdx-collateral", tdx_collateral,
                 "Directory of Intel PCS collateral (tcb_info.json, qe_identity.json, "
                 "pck_crl.der, root_ca_crl.der, *_issuer_chain.pem): TDX evidence is also checked "
                 "for revocation, QE identity and TCB status");
  app.add_option("--tdx-accept-tcb-status", tdx_accept_tcb_status,
                 "With --tdx-collateral: accepted TCB statuses, comma-separated (default "
                 "UpToDate,SWHardeningNeeded)");
  app.add_option("--snp-ca", snp_ca, "AMD ASK+ARK PEM used when SNP evidence carries none");
  app.add_flag("--test-only-unpinned-snp-ca", snp_ca_unpinned_test_only,
               "TEST ONLY, INSECURE: trust the ARK of --snp-ca in place of AMD's pinned ARKs (an "
               "emulated SNP platform's throwaway chain)");
  app.add_option("--admin-token-file", admin_token_file,
                 "Admin bearer token file (created with a random token if absent; default "
                 "STATE_DIR/admin-token)");
  app.add_option("--session-timeout", session_timeout, "Session lifetime in seconds")
      ->capture_default_str();
  app.add_flag("--quiet", quiet, "Do not log requests to stderr");
  app.add_option("--delay-ms", delay_ms, "TEST ONLY: delay every response by N milliseconds");
  app.add_option("--fail-first", fail_first,
                 "TEST ONLY: answer the first N requests with 503 and Retry-After: 1");
  CLI11_PARSE(app, argc, argv);

  if (tls_cert.empty() != tls_key.empty()) {
    return fail(Status(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together"));
  }
  auto address = parse_listen(listen);
  if (!address.ok()) return fail(address.status());

  const std::filesystem::path state = std::filesystem::absolute(state_dir);
  if (Status made = ccfde::devkbs::make_private_directories(state); !made.ok()) return fail(made);
  const std::filesystem::path token_path = admin_token_file.empty()
                                               ? state / "admin-token"
                                               : std::filesystem::absolute(admin_token_file);
  auto token = load_or_create_admin_token(token_path);
  if (!token.ok()) return fail(token.status());
  auto tdx_root_pem = read_pem(tdx_root);
  if (!tdx_root_pem.ok()) return fail(tdx_root_pem.status().with_context("--tdx-root"));
  auto snp_ca_pem = read_pem(snp_ca);
  if (!snp_ca_pem.ok()) return fail(snp_ca_pem.status().with_context("--snp-ca"));

  ccfde::devkbs::BrokerOptions broker_options;
  if (!tdx_accept_tcb_status.empty()) {
    if (tdx_collateral.empty()) {
      return fail(
          Status(ErrorCode::kInvalidArgument, "--tdx-accept-tcb-status needs --tdx-collateral"));
    }
    auto policy = ccfde::measure::parse_tdx_tcb_policy(tdx_accept_tcb_status);
    if (!policy.ok()) return fail(policy.status().with_context("--tdx-accept-tcb-status"));
    broker_options.tdx_tcb_policy = *policy;
  }
  if (!tdx_collateral.empty()) {
    auto collateral = ccfde::measure::read_tdx_collateral_directory(tdx_collateral);
    if (!collateral.ok()) return fail(collateral.status().with_context("--tdx-collateral"));
    broker_options.tdx_collateral = std::move(collateral).value();
  } else if (!quiet) {
    std::fprintf(stderr,
                 "devkbs: no --tdx-collateral: TDX PCK revocation and TCB status are not "
                 "checked\n");
  }
  broker_options.state_dir = state;
  broker_options.allow_sample = allow_sample;
  broker_options.tdx_root_pem = *tdx_root_pem;
  broker_options.snp_ca_pem = *snp_ca_pem;
  broker_options.snp_ca_unpinned_test_only = snp_ca_unpinned_test_only;
  if (snp_ca_unpinned_test_only) {
    if (snp_ca.empty()) {
      return fail(
          Status(ErrorCode::kInvalidArgument, "--test-only-unpinned-snp-ca needs --snp-ca"));
    }
    std::cerr << "devkbs: WARNING: --test-only-unpinned-snp-ca: SNP evidence is verified against "
                 "the ARK of "
              << snp_ca << ", not AMD's pinned ARKs. TEST ONLY: such evidence proves nothing.\n";
  }
  broker_options.admin_token = *token;
  broker_options.session_timeout = std::chrono::seconds(session_timeout);
  auto broker = ccfde::devkbs::Broker::create(std::move(broker_options));
  if (!broker.ok()) return fail(broker.status());

  ccfde::devkbs::TlsMaterial material;
  if (tls_cert.empty()) {
    auto generated = ccfde::devkbs::ensure_tls_material(state);
    if (!generated.ok()) return fail(generated.status());
    material = *generated;
  } else {
    material.certificate = std::filesystem::absolute(tls_cert);
    material.private_key = std::filesystem::absolute(tls_key);
  }

  // Block the stop signals in every thread (the server's threads inherit the mask); the main
  // thread takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ccfde::devkbs::ServerOptions server_options;
  server_options.host = address->host;
  server_options.port = address->port;
  server_options.listen_any = listen_any;
  server_options.certificate = material.certificate;
  server_options.private_key = material.private_key;
  server_options.delay = std::chrono::milliseconds(delay_ms);
  server_options.fail_first = fail_first;
  if (!quiet) {
    server_options.log = [](const std::string& line) { std::cerr << "devkbs: " << line << "\n"; };
  }
  auto server = ccfde::devkbs::Server::start(**broker, server_options);
  if (!server.ok()) return fail(server.status());

  const std::string host_in_url =
      address->host.find(':') != std::string::npos ? "[" + address->host + "]" : address->host;
  const nlohmann::json line = {
      {"address", address->host},
      {"port", (*server)->port()},
      {"url", "https://" + host_in_url + ":" + std::to_string((*server)->port())},
      {"ca", material.ca_certificate.empty() ? nlohmann::json(nullptr)
                                             : nlohmann::json(material.ca_certificate.string())},
      {"certificate", material.certificate.string()},
      {"admin_token_file", token_path.string()},
      {"state_dir", state.string()},
      {"pid", static_cast<long>(::getpid())},
      {"allow_sample", allow_sample}};
  std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "devkbs: signal " << signal_number << ", shutting down\n";
  (*server)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ccfde::guarded_main("devkbs", 1, run_main, argc, argv);
}
