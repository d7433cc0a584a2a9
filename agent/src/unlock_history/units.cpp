// SPDX-License-Identifier: Apache-2.0
// The cc-fde units' states, asked from systemd over D-Bus (sd-bus).
#include <fmt/format.h>
#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ccfde/agent/unlock_history.h"
#include "ccfde/common/status.h"

namespace ccfde::agent {
namespace {

constexpr const char* kAgentUnit = "fde-agent.service";
constexpr const char* kUnitPattern = "cc-fde*.service";
constexpr std::uint64_t kBusTimeoutUsec = 5'000'000;

struct BusCloser {
  void operator()(sd_bus* bus) const noexcept { sd_bus_flush_close_unref(bus); }
};
struct MessageUnref {
  void operator()(sd_bus_message* message) const noexcept { sd_bus_message_unref(message); }
};
using Bus = std::unique_ptr<sd_bus, BusCloser>;
using BusMessage = std::unique_ptr<sd_bus_message, MessageUnref>;

class BusError {
 public:
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd_bus_error_free(&error_); }
  sd_bus_error* get() { return &error_; }
  std::string describe(int r) const {
    if (sd_bus_error_is_set(&error_) != 0 && error_.message != nullptr) {
      return fmt::format("{} ({})", error_.message, error_.name);
    }
    return std::strerror(-r);
  }

 private:
  sd_bus_error error_{};  // SD_BUS_ERROR_NULL (a C compound literal, not valid C++)
};

}  // namespace

Result<std::vector<UnitState>> read_cc_fde_units() {
  sd_bus* raw = nullptr;
  int r = sd_bus_open_system(&raw);
  if (r < 0) {
    return make_errno_error(ErrorCode::kUnsupported, -r, "cannot connect to the system bus");
  }
  Bus bus(raw);
  sd_bus_set_method_call_timeout(bus.get(), kBusTimeoutUsec);

  BusError error;
  sd_bus_message* reply_raw = nullptr;
  r = sd_bus_call_method(bus.get(), "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                         "org.freedesktop.systemd1.Manager", "ListUnitsByPatterns", error.get(),
                         &reply_raw, "asas", 0, 2, kAgentUnit, kUnitPattern);
  if (r < 0) {
    return make_error(ErrorCode::kUnsupported, "cannot ask systemd for the cc-fde units: {}",
                      error.describe(r));
  }
  BusMessage reply(reply_raw);
  r = sd_bus_message_enter_container(reply.get(), 'a', "(ssssssouso)");
  if (r < 0) {
    return make_errno_error(ErrorCode::kMalformedResponse, -r,
                            "unexpected ListUnitsByPatterns reply");
  }
  std::vector<UnitState> units;
  for (;;) {
    const char* name = nullptr;
    const char* description = nullptr;
    const char* load = nullptr;
    const char* active = nullptr;
    const char* sub = nullptr;
    const char* following = nullptr;
    const char* object = nullptr;
    std::uint32_t job_id = 0;
    const char* job_type = nullptr;
    const char* job_object = nullptr;
    r = sd_bus_message_read(reply.get(), "(ssssssouso)", &name, &description, &load, &active, &sub,
                            &following, &object, &job_id, &job_type, &job_object);
    if (r < 0) {
      return make_errno_error(ErrorCode::kMalformedResponse, -r,
                              "unexpected ListUnitsByPatterns reply");
    }
    if (r == 0) break;
    units.push_back({name, description, load, active, sub});
  }
  // A unit that is not loaded is not listed; say so for the agent, which should always be.
  const bool agent_listed = std::any_of(
      units.begin(), units.end(), [](const UnitState& unit) { return unit.name == kAgentUnit; });
  if (!agent_listed) {
    units.insert(units.begin(), {kAgentUnit, "", "not-loaded", "inactive", "dead"});
  }
  return units;
}

}  // namespace ccfde::agent
