// SPDX-License-Identifier: Apache-2.0
#include "ccfde/agent/key_broker.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <system_error>
#include <thread>

#include "broker_transport.h"
#include "ccfde/agent/init_data_source.h"
#include "ccfde/kbs-client/evidence_builder.h"
#include "ccfde/kbs-client/init_data.h"
#include "ccfde/kbs-client/ita_client.h"
#include "ccfde/kbs-client/resource_path.h"
#include "ccfde/kbs-client/resource_reference.h"
#include "ccfde/kbs-client/smbios_credential.h"
#include "ccfde/kbs-client/trustee_client.h"
#include "ccfde/measure/event_log_sources.h"
#include "ccfde/measure/platform.h"
#include "ccfde/measure/report_data.h"

namespace ccfde::agent {
namespace {

using broker_internal::make_profile_transport;

constexpr unsigned kMaxParallel = 32;
constexpr std::chrono::milliseconds kBootRetryMaxDelay{4000};

unsigned clamp_parallel(unsigned parallel) {
  return std::clamp(parallel, 1U, kMaxParallel);
}

measure::PlatformPaths platform_paths(const EvidenceConfig& evidence) {
  return evidence.platform_root.empty() ? measure::PlatformPaths{}
                                        : measure::PlatformPaths::rooted_at(evidence.platform_root);
}

// A worker's view of a transport the broker keeps across fetches (so connections stay alive).
class BorrowedTransport final : public kbs_client::HttpTransport {
 public:
  explicit BorrowedTransport(kbs_client::HttpTransport& transport) : transport_(transport) {}
  Result<kbs_client::HttpResponse> send(const kbs_client::HttpRequest& request) override {
    return transport_.send(request);
  }

 private:
  kbs_client::HttpTransport& transport_;
};

// Extra transports for the workers, made on first use and kept.
class TransportPool {
 public:
  explicit TransportPool(const BrokerProfile& profile) : profile_(profile) {}

  // The idx-th extra transport (made now if it does not exist yet).
  Result<kbs_client::HttpTransport*> get(std::size_t idx) {
    while (pool_.size() <= idx) {
      CCFDE_ASSIGN_OR_RETURN(auto transport, make_profile_transport(profile_));
      pool_.push_back(std::move(transport));
    }
    return pool_[idx].get();
  }

 private:
  const BrokerProfile& profile_;
  std::vector<std::unique_ptr<kbs_client::HttpTransport>> pool_;
};

class TrusteeKeyBroker final : public KeyBroker {
 public:
  // `init_data`: the document `evidence` binds to its register and sends (std::nullopt: none);
  // a resource "init-data" is the path its claim names.
  TrusteeKeyBroker(BrokerProfile profile, std::unique_ptr<kbs_client::HttpTransport> transport,
                   std::unique_ptr<kbs_client::EvidenceProvider> evidence,
                   std::optional<kbs_client::InitData> init_data, unsigned parallel)
      : profile_(std::move(profile)),
        transport_(std::move(transport)),
        evidence_(std::move(evidence)),
        init_data_(std::move(init_data)),
        client_(*transport_, *evidence_, client_options(profile_)),
        pool_(profile_),
        parallel_(parallel) {}

  std::vector<Result<SecretBytes>> fetch(std::span<const std::string> resources,
                                         SteadyClock::time_point deadline) override {
    std::vector<std::optional<Result<SecretBytes>>> slots(resources.size());
    std::vector<kbs_client::ResourcePath> paths;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < resources.size(); ++i) {
      auto path =
          kbs_client::resolve_resource_reference(resources[i], init_data_ ? &*init_data_ : nullptr);
      if (!path.ok()) {
        slots[i].emplace(path.status().with_context(
            fmt::format("resource \"{}\"", escape_nonprintable(resources[i]))));
        continue;
      }
      paths.push_back(std::move(path).value());
      where.push_back(i);
    }
    if (!paths.empty()) {
      client_.set_deadline(deadline);
      std::size_t next_extra = 0;
      const kbs_client::TransportFactory factory =
          [&]() -> Result<std::unique_ptr<kbs_client::HttpTransport>> {
        CCFDE_ASSIGN_OR_RETURN(kbs_client::HttpTransport * transport, pool_.get(next_extra++));
        return std::unique_ptr<kbs_client::HttpTransport>(
            std::make_unique<BorrowedTransport>(*transport));
      };
      auto fetched = client_.get_resources(paths, parallel_, factory);
      for (std::size_t k = 0; k < fetched.size(); ++k) {
        if (fetched[k].ok()) {
          slots[where[k]].emplace(
              kbs_client::disk_key_from_secret(paths[k], std::move(fetched[k]).value()));
        } else {
          slots[where[k]].emplace(std::move(fetched[k]));
        }
      }
    }
    std::vector<Result<SecretBytes>> results;
    results.reserve(slots.size());
    for (auto& slot : slots) results.push_back(std::move(*slot));
    return results;
  }

  Status attest(SteadyClock::time_point deadline) override {
    if (client_.has_session()) return Status();
    client_.set_deadline(deadline);
    return client_.attest();
  }
  unsigned attestations() const override { return client_.handshakes(); }
  measure::TeeKind tee() const override { return evidence_->tee(); }
  std::vector<std::string> take_notes() override {
    return broker_internal::profile_addresses(profile_)->take_notes();
  }

 private:
  static kbs_client::TrusteeClientOptions client_options(const BrokerProfile& profile) {
    kbs_client::TrusteeClientOptions options;
    options.base_url = profile.urls.front();
    options.request_timeout = profile.request_timeout;
    options.deadline = SteadyClock::now();  // set by every fetch
    // A boot waits on the broker: once it is back, the next attempt should come within seconds,
    // not after the client's 30 s ceiling (the jitter still spreads a fleet's retries).
    options.retry.max_delay = kBootRetryMaxDelay;
    return options;
  }

  BrokerProfile profile_;
  std::unique_ptr<kbs_client::HttpTransport> transport_;
  std::unique_ptr<kbs_client::EvidenceProvider> evidence_;
  std::optional<kbs_client::InitData> init_data_;
  kbs_client::TrusteeClient client_;
  TransportPool pool_;
  unsigned parallel_;
};

// Intel Trust Authority KBS: each key transfer is an attestation of its own (nonce, quote, key),
// so `attestations()` counts the keys transferred.
class ItaKeyBroker final : public KeyBroker {
 public:
  ItaKeyBroker(BrokerProfile profile, std::unique_ptr<kbs_client::HttpTransport> transport,
               std::unique_ptr<measure::EvidenceSource> source, measure::PlatformPaths paths,
               bool send_event_log, unsigned parallel)
      : profile_(std::move(profile)),
        transport_(std::move(transport)),
        source_(std::move(source)),
        paths_(std::move(paths)),
        send_event_log_(send_event_log),
        pool_(profile_),
        parallel_(parallel) {}

  std::vector<Result<SecretBytes>> fetch(std::span<const std::string> resources,
                                         SteadyClock::time_point deadline) override {
    std::vector<std::optional<Result<SecretBytes>>> slots(resources.size());
    if (!resources.empty()) {
      std::vector<kbs_client::HttpTransport*> transports = {transport_.get()};
      const std::size_t workers = std::min<std::size_t>(parallel_, resources.size());
      for (std::size_t w = 1; w < workers; ++w) {
        auto extra = pool_.get(w - 1);
        if (!extra.ok()) break;
        transports.push_back(*extra);
      }
      std::atomic<std::size_t> next{0};
      const auto work = [&](kbs_client::HttpTransport* transport) {
        kbs_client::ItaClientOptions options;
        options.base_url = profile_.urls.front();
        options.request_timeout = profile_.request_timeout;
        options.deadline = deadline;
        kbs_client::ItaKbsClient client(
            *transport, [this](auto data) { return evidence(data); }, options);
        for (;;) {
          const std::size_t i = next.fetch_add(1);
          if (i >= resources.size()) return;
          auto key = client.transfer_key(resources[i]);
          if (key.ok()) ++transfers_;
          slots[i].emplace(std::move(key));
        }
      };
      std::vector<std::thread> threads;
      for (std::size_t w = 1; w < transports.size(); ++w) {
        try {
          threads.emplace_back(work, transports[w]);
        } catch (const std::system_error&) {
          break;
        }
      }
      work(transports[0]);
      for (std::thread& thread : threads) thread.join();
    }
    std::vector<Result<SecretBytes>> results;
    results.reserve(slots.size());
    for (auto& slot : slots) results.push_back(std::move(*slot));
    return results;
  }

  // Nothing to do ahead of fetch(): ITA attests inside each key transfer.
  Status attest(SteadyClock::time_point) override { return Status(); }
  unsigned attestations() const override { return transfers_.load(); }
  measure::TeeKind tee() const override { return measure::TeeKind::kTdx; }
  std::vector<std::string> take_notes() override {
    return broker_internal::profile_addresses(profile_)->take_notes();
  }

 private:
  // Quotes are taken one at a time: a configfs-tsm report entry is not shared safely.
  Result<kbs_client::ItaEvidence> evidence(std::span<const std::uint8_t> report_data) {
    std::lock_guard lock(evidence_mutex_);
    CCFDE_ASSIGN_OR_RETURN(const auto data, measure::report_data_from_digest(report_data));
    auto fresh = source_->get_evidence(data);
    if (!fresh.ok()) return fresh.status().with_context(source_->name());
    if (fresh->tee != measure::TeeKind::kTdx) {
      return make_error(ErrorCode::kUnsupported,
                        "the Intel Trust Authority KBS needs a TDX quote; {} gave {} evidence",
                        source_->name(), measure::tee_kind_name(fresh->tee));
    }
    kbs_client::ItaEvidence out{std::move(fresh->primary), std::nullopt};
    if (send_event_log_) {
      auto ccel = measure::read_event_log(paths_, measure::EventLogKind::kCcelData);
      if (ccel.ok()) {
        out.event_log = std::move(ccel).value();
      } else if (ccel.status().code() != ErrorCode::kNotFound) {
        return ccel.status();
      }
    }
    return out;
  }

  BrokerProfile profile_;
  std::unique_ptr<kbs_client::HttpTransport> transport_;
  std::unique_ptr<measure::EvidenceSource> source_;
  measure::PlatformPaths paths_;
  bool send_event_log_;
  TransportPool pool_;
  unsigned parallel_;
  std::mutex evidence_mutex_;
  std::atomic<unsigned> transfers_{0};
};

Result<std::unique_ptr<KeyBroker>> make_ita_broker(
    const BrokerProfile& profile, const EvidenceConfig& evidence,
    std::unique_ptr<kbs_client::HttpTransport> transport, unsigned parallel) {
  if (evidence.tee && *evidence.tee != measure::TeeKind::kTdx) {
    return make_error(ErrorCode::kUnsupported,
                      "broker profile \"{}\": the Intel Trust Authority KBS takes TDX evidence "
                      "only, not \"{}\"",
                      profile.name, tee_selection_name(evidence.tee));
  }
  const measure::PlatformPaths paths = platform_paths(evidence);
  const measure::PlatformInfo info = measure::detect_platform(paths);
  if (info.tee != measure::TeeKind::kTdx) {
    return make_error(ErrorCode::kUnsupported,
                      "broker profile \"{}\": the Intel Trust Authority KBS needs a TDX guest; {}",
                      profile.name, info.reason);
  }
  CCFDE_ASSIGN_OR_RETURN(auto source, measure::open_evidence_source(paths));
  std::unique_ptr<KeyBroker> broker = std::make_unique<ItaKeyBroker>(
      profile, std::move(transport), std::move(source), paths, evidence.send_event_log, parallel);
  return broker;
}

}  // namespace

Result<std::optional<kbs_client::InitData>> load_init_data(const EvidenceConfig& evidence) {
  using Loaded = std::optional<kbs_client::InitData>;
  if (!evidence.init_data.empty()) {
    CCFDE_ASSIGN_OR_RETURN(auto init_data, kbs_client::read_init_data_file(evidence.init_data));
    return Loaded(std::move(init_data));
  }
  if (evidence.init_data_smbios.empty()) return Loaded();
  CCFDE_ASSIGN_OR_RETURN(auto init_data,
                         kbs_client::read_init_data_smbios(platform_paths(evidence).smbios_entries,
                                                           evidence.init_data_smbios));
  return Loaded(std::move(init_data));
}

Result<std::unique_ptr<KeyBroker>> make_key_broker(const BrokerProfile& profile,
                                                   const EvidenceConfig& evidence,
                                                   unsigned max_parallel_fetches) {
  if (evidence.tee == measure::TeeKind::kNone) {
    return make_error(ErrorCode::kConfigInvalid,
                      "evidence tee \"{}\" is not auto, tdx, snp or sample",
                      tee_selection_name(evidence.tee));
  }
  const unsigned parallel = clamp_parallel(max_parallel_fetches);
  CCFDE_ASSIGN_OR_RETURN(auto transport, make_profile_transport(profile));
  if (profile.protocol == BrokerProtocol::kIta) {
    if (!evidence.init_data.empty() || !evidence.init_data_smbios.empty()) {
      return make_error(
          ErrorCode::kConfigInvalid,
          "evidence.init_data(_smbios) names Trustee init-data; profile \"{}\" uses the ITA "
          "protocol, which has none",
          profile.name);
    }
    return make_ita_broker(profile, evidence, std::move(transport), parallel);
  }

  measure::EvidenceSourceOptions source_options;
  if (evidence.tee == measure::TeeKind::kSample) {
    source_options.preference = measure::EvidenceSourceKind::kSample;
  }
  kbs_client::PlatformEvidenceOptions evidence_options;
  evidence_options.send_event_log = evidence.send_event_log;
  CCFDE_ASSIGN_OR_RETURN(evidence_options.init_data, load_init_data(evidence));
  CCFDE_ASSIGN_OR_RETURN(
      auto provider, kbs_client::make_platform_evidence_provider(platform_paths(evidence),
                                                                 source_options, evidence_options));
  if (evidence.tee && provider->tee() != *evidence.tee) {
    return make_error(ErrorCode::kUnsupported,
                      "evidence tee \"{}\" configured, but this platform provides {} evidence",
                      tee_selection_name(evidence.tee), measure::tee_kind_name(provider->tee()));
  }
  std::unique_ptr<KeyBroker> broker =
      std::make_unique<TrusteeKeyBroker>(profile, std::move(transport), std::move(provider),
                                         std::move(evidence_options.init_data), parallel);
  return broker;
}

}  // namespace ccfde::agent
