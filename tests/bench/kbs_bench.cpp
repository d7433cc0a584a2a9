// SPDX-License-Identifier: Apache-2.0
// Benchmarks of the key-broker client against devkbs on loopback (HTTPS, devkbs's generated CA),
// with `sample` evidence so that only the protocol and crypto are measured: one full attestation
// plus one resource fetch, and one attestation plus 16 resources in the same session. "CPU" is the
// client thread's CPU time (devkbs runs in other threads of the process); "Time" is wall time.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "ccfde/devkbs/broker.h"
#include "ccfde/devkbs/server.h"
#include "ccfde/kbs-client/evidence_builder.h"
#include "ccfde/kbs-client/http_transport.h"
#include "ccfde/kbs-client/resource_path.h"
#include "ccfde/kbs-client/trustee_client.h"

namespace {

constexpr int kResources = 16;

struct Fixture {
  std::filesystem::path state_dir;
  std::unique_ptr<ccfde::devkbs::Broker> broker;
  std::unique_ptr<ccfde::devkbs::Server> server;
  std::unique_ptr<ccfde::kbs_client::HttpTransport> transport;
  std::string url;
  std::string admin_token = "bench-admin-token";

  static Fixture& get() {
    static Fixture fixture;
    return fixture;
  }

  Fixture() {
    char pattern[] = "/tmp/ccfde-kbs-bench-XXXXXX";
    if (mkdtemp(pattern) == nullptr) std::abort();
    state_dir = pattern;
    ccfde::devkbs::BrokerOptions options;
    options.state_dir = state_dir;
    options.allow_sample = true;
    options.admin_token = admin_token;
    broker = must(ccfde::devkbs::Broker::create(options));
    auto tls = must(ccfde::devkbs::ensure_tls_material(state_dir));
    ccfde::devkbs::ServerOptions server_options;
    server_options.certificate = tls.certificate;
    server_options.private_key = tls.private_key;
    server = must(ccfde::devkbs::Server::start(*broker, server_options));
    url = "https://127.0.0.1:" + std::to_string(server->port());
    admin("POST", "/kbs/v0/resource-policy", R"({"resources":{"*":{"tees":["sample"]}}})");
    for (int i = 0; i < kResources; ++i) {
      admin("POST", "/kbs/v0/resource/bench/key/k" + std::to_string(i), std::string(32, 'k'));
    }
    ccfde::kbs_client::TransportOptions transport_options;
    transport_options.ca_file = tls.ca_certificate;
    transport = must(ccfde::kbs_client::make_curl_transport(transport_options));
  }

  ~Fixture() {
    server->stop();
    std::error_code ignored;
    std::filesystem::remove_all(state_dir, ignored);
  }

  void admin(const std::string& method, const std::string& path, const std::string& body) {
    auto response =
        broker->handle({method, path, {{"Authorization", "Bearer " + admin_token}}, body});
    if (response.status != 200) {
      std::fprintf(stderr, "admin %s %s: %d %s\n", method.c_str(), path.c_str(), response.status,
                   response.body.c_str());
      std::abort();
    }
  }

  template <typename T>
  static T must(ccfde::Result<T> result) {
    if (!result.ok()) {
      std::fprintf(stderr, "kbs bench setup: %s\n", result.status().to_string().c_str());
      std::abort();
    }
    return std::move(result).value();
  }
};

void fetch(benchmark::State& state, int resources) {
  Fixture& fixture = Fixture::get();
  auto evidence = Fixture::must(
      ccfde::kbs_client::make_evidence_provider(ccfde::measure::TeeKind::kSample, nullptr));
  for (auto _ : state) {
    ccfde::kbs_client::TrusteeClientOptions options;
    options.base_url = fixture.url;
    options.deadline = ccfde::kbs_client::SteadyClock::now() + std::chrono::seconds(30);
    ccfde::kbs_client::TrusteeClient client(*fixture.transport, *evidence, options);
    for (int i = 0; i < resources; ++i) {
      auto path = ccfde::kbs_client::parse_resource_path("bench/key/k" + std::to_string(i));
      auto secret = client.get_resource(*path);
      if (!secret.ok()) {
        state.SkipWithError(secret.status().to_string().c_str());
        return;
      }
      benchmark::DoNotOptimize(secret->data());
    }
  }
  state.counters["resources"] = resources;
}

void BM_AttestAndFetchOneResource(benchmark::State& state) {
  fetch(state, 1);
}
void BM_AttestAndFetch16Resources(benchmark::State& state) {
  fetch(state, kResources);
}
BENCHMARK(BM_AttestAndFetchOneResource)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AttestAndFetch16Resources)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
