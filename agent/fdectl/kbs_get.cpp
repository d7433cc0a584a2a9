// SPDX-License-Identifier: Apache-2.0
// fdectl kbs get: attest, fetch one resource, and hand it to the operator without printing it.
#include <fmt/format.h>

#include <cstdio>

#include "ccfde/agent/config.h"
#include "ccfde/agent/init_data_source.h"
#include "ccfde/agent/key_broker.h"
#include "ccfde/kbs-client/http_transport.h"
#include "ccfde/kbs-client/init_data.h"
#include "ccfde/kbs-client/ita_client.h"
#include "ccfde/kbs-client/resource_reference.h"
#include "ccfde/kbs-client/trustee_client.h"
#include "ccfde/measure/event_log_sources.h"
#include "ccfde/measure/platform.h"
#include "ccfde/measure/report_data.h"
#include "cli_support.h"
#include "commands.h"
#include "secret_file.h"

namespace ccfde::fdectl {
namespace {

Result<measure::EvidenceSourceOptions> evidence_options(const agent::TeeSelection& tee) {
  measure::EvidenceSourceOptions options;
  if (tee == measure::TeeKind::kSample) {
    options.preference = measure::EvidenceSourceKind::kSample;
  } else if (tee == measure::TeeKind::kNone) {
    return make_error(ErrorCode::kInvalidArgument, "--tee: unknown TEE '{}'",
                      agent::tee_selection_name(tee));
  }
  return options;
}

// Intel Trust Authority KBS: `--resource` is the key id (a UUID); evidence is a TDX quote.
Result<SecretBytes> fetch_from_ita(const KbsGetOptions& options,
                                   kbs_client::HttpTransport& transport,
                                   const measure::PlatformPaths& paths) {
  if (!options.init_data_file.empty() || !options.init_data_smbios.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--init-data(-smbios): Trustee init-data; the Intel Trust Authority KBS has "
                      "none");
  }
  if (options.tee && *options.tee != measure::TeeKind::kTdx) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--tee {}: the Intel Trust Authority KBS takes TDX evidence only",
                      agent::tee_selection_name(options.tee));
  }
  measure::EvidenceSourceOptions source_options;
  CCFDE_ASSIGN_OR_RETURN(auto source, measure::open_evidence_source(paths, source_options));
  kbs_client::ItaEvidenceCallback evidence =
      [&source,
       &paths](std::span<const std::uint8_t> report_data) -> Result<kbs_client::ItaEvidence> {
    CCFDE_ASSIGN_OR_RETURN(auto data, measure::report_data_from_digest(report_data));
    CCFDE_ASSIGN_OR_RETURN(auto fresh, source->get_evidence(data));
    if (fresh.tee != measure::TeeKind::kTdx) {
      return make_error(ErrorCode::kUnsupported,
                        "the Intel Trust Authority KBS needs a TDX quote; this platform gives {}",
                        measure::tee_kind_name(fresh.tee));
    }
    kbs_client::ItaEvidence out{std::move(fresh.primary), std::nullopt};
    if (auto ccel = measure::read_event_log(paths, measure::EventLogKind::kCcelData); ccel.ok()) {
      out.event_log = std::move(ccel).value();
    }
    return out;
  };
  kbs_client::ItaClientOptions client_options;
  client_options.base_url = options.url;
  client_options.deadline =
      kbs_client::SteadyClock::now() + std::chrono::seconds(options.timeout_seconds);
  kbs_client::ItaKbsClient client(transport, std::move(evidence), client_options);
  return client.transfer_key(options.resource);
}

// Trustee KBS 0.4.0: `--resource` is a resource reference (REPO/TYPE/TAG, a kbs URI, or
// init-data; kbs-client/resource_reference.h).
Result<SecretBytes> fetch_from_trustee(const KbsGetOptions& options,
                                       kbs_client::HttpTransport& transport,
                                       const measure::PlatformPaths& paths) {
  CCFDE_ASSIGN_OR_RETURN(auto source_options, evidence_options(options.tee));
  kbs_client::PlatformEvidenceOptions platform_options;
  if (!options.init_data_file.empty() && !options.init_data_smbios.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--init-data and --init-data-smbios: give one of the two");
  }
  agent::EvidenceConfig init_data_source;
  init_data_source.init_data = options.init_data_file;
  init_data_source.init_data_smbios = options.init_data_smbios;
  init_data_source.platform_root = options.platform_root;
  CCFDE_ASSIGN_OR_RETURN(platform_options.init_data, agent::load_init_data(init_data_source));
  auto path = kbs_client::resolve_resource_reference(
      options.resource, platform_options.init_data ? &*platform_options.init_data : nullptr);
  if (!path.ok()) return path.status().with_context("--resource");
  CCFDE_ASSIGN_OR_RETURN(auto evidence, kbs_client::make_platform_evidence_provider(
                                            paths, source_options, platform_options));
  if (options.tee && evidence->tee() != *options.tee) {
    return make_error(ErrorCode::kUnsupported, "--tee {}: this platform provides {} evidence",
                      agent::tee_selection_name(options.tee),
                      measure::tee_kind_name(evidence->tee()));
  }
  if (evidence->tee() == measure::TeeKind::kSample) {
    std::fprintf(stderr,
                 "fdectl: WARNING: sending `sample` evidence (development only: no hardware, no "
                 "security)\n");
  }
  kbs_client::TrusteeClientOptions client_options;
  client_options.base_url = options.url;
  client_options.deadline =
      kbs_client::SteadyClock::now() + std::chrono::seconds(options.timeout_seconds);
  kbs_client::TrusteeClient client(transport, *evidence, client_options);
  CCFDE_ASSIGN_OR_RETURN(SecretBytes secret, client.get_resource(*path));
  return kbs_client::disk_key_from_secret(*path, std::move(secret));
}

// Profile mode: everything about the broker comes from the configuration.
Result<SecretBytes> fetch_from_profile(const KbsGetOptions& options) {
  if (options.direct_flags_given) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "--url, --ca, --pin, --tee, --protocol, --platform-root, --init-data and "
        "--init-data-smbios cannot be combined with --config/--profile (the profile defines them)");
  }
  const std::string config_file =
      options.config_file.empty() ? std::string(agent::kDefaultConfigPath) : options.config_file;
  CCFDE_ASSIGN_OR_RETURN(auto config, agent::load_config(config_file));
  const std::string profile_name =
      options.profile.empty() ? std::string(agent::kDefaultProfileName) : options.profile;
  CCFDE_ASSIGN_OR_RETURN(const agent::BrokerProfile* profile, config.profile(profile_name));
  CCFDE_ASSIGN_OR_RETURN(
      auto broker, agent::make_key_broker(*profile, config.evidence, /*max_parallel_fetches=*/1));
  if (broker->tee() == measure::TeeKind::kSample) {
    std::fprintf(stderr,
                 "fdectl: WARNING: sending `sample` evidence (development only: no hardware, no "
                 "security)\n");
  }
  const std::string resources[] = {options.resource};
  auto results = broker->fetch(
      resources, agent::SteadyClock::now() + std::chrono::seconds(options.timeout_seconds));
  for (const std::string& line : broker->take_notes())
    note(fmt::format("profile {}: {}", profile_name, line));
  if (results.size() != 1) {
    return make_error(ErrorCode::kInternal, "the key broker returned {} results for 1 resource",
                      results.size());
  }
  return std::move(results.front());
}

Result<SecretBytes> fetch_direct(const KbsGetOptions& options) {
  if (options.url.empty()) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "give the broker with --url (or a configured profile with --config/--profile)");
  }
  kbs_client::TransportOptions transport_options;
  transport_options.ca_file = options.ca_file;
  transport_options.pinned_public_keys = options.pins;
  transport_options.insecure_http = options.insecure_http;
  CCFDE_ASSIGN_OR_RETURN(auto transport, kbs_client::make_curl_transport(transport_options));
  const measure::PlatformPaths paths =
      options.platform_root.empty() ? measure::PlatformPaths{}
                                    : measure::PlatformPaths::rooted_at(options.platform_root);
  return options.protocol == "ita" ? fetch_from_ita(options, *transport, paths)
                                   : fetch_from_trustee(options, *transport, paths);
}

}  // namespace

int run_kbs_get(const KbsGetOptions& options) {
  const bool profile_mode = !options.config_file.empty() || !options.profile.empty();
  auto secret = profile_mode ? fetch_from_profile(options) : fetch_direct(options);
  if (!secret.ok()) return fail(secret.status());

  if (!options.out_file.empty()) {
    Status written = write_secret_file(options.out_file, *secret);
    if (!written.ok()) return fail(written);
    std::printf("resource %s: %zu bytes written to %s (mode 0600)\n", options.resource.c_str(),
                secret->size(), options.out_file.c_str());
    return 0;
  }
  // Only the length: even a digest of a low-entropy secret would let anyone who sees it test
  // guesses offline.
  std::printf("resource %s: %zu bytes (not printed; use --out FILE)\n", options.resource.c_str(),
              secret->size());
  return 0;
}

}  // namespace ccfde::fdectl
