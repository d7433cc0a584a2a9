// SPDX-License-Identifier: Apache-2.0
// The real KeyService: attestation through KeyBroker, uploads through the admin API.
#include <fmt/format.h>

#include <functional>
#include <map>

#include "ccfde/agent/binding.h"
#include "ccfde/agent/key_broker.h"

namespace ccfde::agent {
namespace {

class BrokerKeyService final : public KeyService {
 public:
  BrokerKeyService(const AgentConfig& config, std::filesystem::path admin_token_file,
                   std::chrono::seconds timeout, std::function<void(std::string_view)> notice)
      : config_(config),
        admin_token_file_(std::move(admin_token_file)),
        timeout_(timeout),
        notice_(std::move(notice)) {}

  Result<SecretBytes> fetch(const BrokerProfile& profile, const std::string& resource) override {
    auto found = brokers_.find(profile.name);
    if (found == brokers_.end()) {
      CCFDE_ASSIGN_OR_RETURN(auto broker, make_key_broker(profile, config_.evidence,
                                                          config_.unlock.max_parallel_fetches));
      found = brokers_.emplace(profile.name, std::move(broker)).first;
    }
    const std::string resources[] = {resource};
    auto results = found->second->fetch(resources, SteadyClock::now() + timeout_);
    for (const std::string& line : found->second->take_notes()) {
      if (notice_) notice_(fmt::format("profile {}: {}", profile.name, line));
    }
    if (results.size() != 1) {
      return make_error(ErrorCode::kInternal, "the key broker returned {} results for 1 resource",
                        results.size());
    }
    return std::move(results.front());
  }

  Status upload(const BrokerProfile& profile, const std::string& resource,
                std::span<const std::uint8_t> key) override {
    return upload_resource(profile, resource, key, admin_token_file_,
                           SteadyClock::now() + timeout_);
  }

 private:
  const AgentConfig& config_;
  std::filesystem::path admin_token_file_;
  std::chrono::seconds timeout_;
  std::function<void(std::string_view)> notice_;
  std::map<std::string, std::unique_ptr<KeyBroker>, std::less<>> brokers_;
};

}  // namespace

std::unique_ptr<KeyService> make_broker_key_service(const AgentConfig& config,
                                                    std::filesystem::path admin_token_file,
                                                    std::chrono::seconds timeout,
                                                    std::function<void(std::string_view)> notice) {
  return std::make_unique<BrokerKeyService>(config, std::move(admin_token_file), timeout,
                                            std::move(notice));
}

}  // namespace ccfde::agent
