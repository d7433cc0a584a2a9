// SPDX-License-Identifier: Apache-2.0
// JSON rendering of parsed TCG event logs (cc-measure eventlog --json and tests), kept apart from
// the parser in tcg_event_log.cpp. Text from the log is escaped (escape_nonprintable), bytes are
// hex.
#include <variant>

#include "ccfde/common/encoding.h"
#include "ccfde/measure/tcg_event_log.h"

namespace ccfde::measure {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

nlohmann::json decoded_to_json(const DecodedEventData& decoded) {
  return std::visit(
      Overloaded{
          [](const std::monostate&) { return nlohmann::json(nullptr); },
          [](const UefiVariableEvent& v) {
            return nlohmann::json{{"kind", "uefi_variable"},
                                  {"variable_guid", v.variable_guid},
                                  {"name", v.name},
                                  {"data", hex_encode(v.data)}};
          },
          [](const FirmwareBlobEvent& v) {
            nlohmann::json out{{"kind", "firmware_blob"}, {"base", v.base}, {"length", v.length}};
            if (v.description) out["description"] = escape_nonprintable(*v.description);
            return out;
          },
          [](const HandoffTablesEvent& v) {
            nlohmann::json tables = nlohmann::json::array();
            for (const auto& table : v.tables) {
              tables.push_back({{"guid", table.guid}, {"pointer", table.pointer}});
            }
            nlohmann::json out{{"kind", "handoff_tables"}, {"tables", std::move(tables)}};
            if (v.description) out["description"] = escape_nonprintable(*v.description);
            return out;
          },
          [](const ImageLoadEvent& v) {
            return nlohmann::json{{"kind", "image_load"},
                                  {"image_location", v.image_location},
                                  {"image_length", v.image_length},
                                  {"image_link_time_address", v.image_link_time_address},
                                  {"device_path", hex_encode(v.device_path)}};
          },
          [](const SeparatorEvent& v) {
            return nlohmann::json{{"kind", "separator"}, {"value", v.value}};
          },
          [](const TextEvent& v) {
            return nlohmann::json{{"kind", "text"}, {"text", escape_nonprintable(v.text)}};
          },
          [](const TaggedEvent& v) {
            nlohmann::json out{{"kind", "tagged_event"},
                               {"tagged_event_id", v.tagged_event_id},
                               {"tagged_data", hex_encode(v.tagged_data)}};
            if (v.text) out["text"] = escape_nonprintable(*v.text);
            if (v.tagged_event_id == kTaggedEventAael) out["tag_name"] = "AAEL";
            if (v.tagged_event_id == kTaggedEventLinuxInitrd) out["tag_name"] = "Linux initrd";
            if (v.tagged_event_id == kTaggedEventLinuxLoadOptions) {
              out["tag_name"] = "LOADED_IMAGE::LoadOptions";
            }
            return out;
          },
          [](const StartupLocalityEvent& v) {
            return nlohmann::json{{"kind", "startup_locality"}, {"locality", v.locality}};
          },
      },
      decoded);
}

}  // namespace

nlohmann::json to_json(const TcgEvent& event, bool cc_log) {
  nlohmann::json digests = nlohmann::json::array();
  for (const auto& entry : event.digests) {
    digests.push_back({{"algorithm_id", entry.algorithm_id},
                       {"algorithm", tcg_algorithm_name(entry.algorithm_id).value_or("unknown")},
                       {"digest", hex_encode(entry.digest)}});
  }
  nlohmann::json out{{"index", event.index},
                     {"offset", event.offset},
                     {"size", event.size},
                     {"register_index", event.register_index},
                     {"event_type", event.event_type},
                     {"event_type_name", event_type_name(event.event_type)},
                     {"digests", std::move(digests)},
                     {"event_size", event.data.size()},
                     {"data", hex_encode(event.data)},
                     {"decoded", decoded_to_json(event.decoded)}};
  if (cc_log) out["register"] = cc_mr_register_name(event.register_index);
  if (!event.decode_error.empty()) out["decode_error"] = escape_nonprintable(event.decode_error);
  return out;
}

nlohmann::json to_json(const SpecIdEvent& spec_id) {
  nlohmann::json algorithms = nlohmann::json::array();
  for (const auto& entry : spec_id.algorithms) {
    algorithms.push_back({{"algorithm_id", entry.algorithm_id},
                          {"algorithm", tcg_algorithm_name(entry.algorithm_id).value_or("unknown")},
                          {"digest_size", entry.digest_size}});
  }
  return nlohmann::json{{"signature", escape_nonprintable(spec_id.signature)},
                        {"platform_class", spec_id.platform_class},
                        {"spec_version_minor", spec_id.spec_version_minor},
                        {"spec_version_major", spec_id.spec_version_major},
                        {"spec_errata", spec_id.spec_errata},
                        {"uintn_size", spec_id.uintn_size},
                        {"algorithms", std::move(algorithms)},
                        {"vendor_info", hex_encode(spec_id.vendor_info)}};
}

nlohmann::json to_json(const TcgEventLog& log, bool cc_log) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& event : log.events) events.push_back(to_json(event, cc_log));
  return nlohmann::json{{"spec_id", to_json(log.spec_id)},
                        {"header", to_json(log.header, cc_log)},
                        {"event_count", log.events.size()},
                        {"events", std::move(events)},
                        {"end_offset", log.end_offset},
                        {"end", log.end == LogEnd::kPadding ? "padding" : "end_of_data"},
                        {"input_size", log.input_size}};
}

}  // namespace ccfde::measure
