// SPDX-License-Identifier: Apache-2.0
// `eventlog` and `replay`.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "ccfde/measure/replay.h"
#include "commands.h"
#include "event_logs.h"
#include "evidence_file.h"
#include "output.h"

namespace ccfde::cc_measure {
namespace {

// "k=v, k=v" for a decoded-event object; nested values as compact JSON.
std::string compact(const nlohmann::json& decoded) {
  std::string text;
  for (const auto& [key, value] : decoded.items()) {
    if (key == "kind") continue;
    if (!text.empty()) text += ", ";
    std::string rendered =
        value.is_string() ? value.get<std::string>()
                          : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // Long values (certificate lists in UEFI variables) are abbreviated; --json has them whole.
    constexpr std::size_t kMaxShown = 96;
    if (rendered.size() > kMaxShown) {
      rendered = fmt::format("{}... ({} characters; --json shows all)",
                             rendered.substr(0, kMaxShown), rendered.size());
    }
    text += key;
    text += '=';
    text += rendered;
  }
  return text;
}

// The human-readable dump: one block per event, the way firmware engineers read logs.
void print_events(const LoadedEventLog& loaded, const nlohmann::json& log_json) {
  std::string out = fmt::format("{} ({} log, {} events, records end at offset {})\n", loaded.origin,
                                loaded.is_tpm_log ? "TPM2" : "CCEL", loaded.log.events.size(),
                                loaded.log.end_offset);
  for (const auto& event : log_json.at("events")) {
    const auto register_index = event.at("register_index").get<std::uint32_t>();
    const std::string where = loaded.is_tpm_log
                                  ? fmt::format("PCR{}", register_index)
                                  : fmt::format("MR{} ({})", register_index,
                                                measure::cc_mr_register_name(register_index));
    out += fmt::format("#{:<3} @{:<6} {:<12} {} (0x{:08x}) {} bytes\n",
                       event.at("index").get<std::size_t>(), event.at("offset").get<std::size_t>(),
                       where, event.at("event_type_name").get<std::string>(),
                       event.at("event_type").get<std::uint32_t>(),
                       event.at("event_size").get<std::size_t>());
    for (const auto& digest : event.at("digests")) {
      out += fmt::format("       {:<7} {}\n", digest.at("algorithm").get<std::string>(),
                         digest.at("digest").get<std::string>());
    }
    if (event.contains("decoded") && event.at("decoded").is_object()) {
      const auto& decoded = event.at("decoded");
      out += fmt::format("       {}: {}\n", decoded.value("kind", std::string("data")),
                         compact(decoded));
    }
    if (event.contains("decode_error")) {
      out += fmt::format("       (not decoded: {})\n", event.at("decode_error").get<std::string>());
    }
  }
  // A failed write is caught by main, which checks stdout once before exiting.
  static_cast<void>(std::fwrite(out.data(), 1, out.size(), stdout));
}

}  // namespace

int run_eventlog(const EventLogOptions& options, const measure::PlatformPaths& paths) {
  auto loaded = load_event_log(options.file, paths);
  if (!loaded.ok()) return report_error(loaded.status(), options.json);
  nlohmann::json document = {{"file", loaded->origin},
                             {"kind", loaded->is_tpm_log ? "tpm2" : "ccel"},
                             {"log", measure::to_json(loaded->log)}};
  if (!options.ima_file.empty()) {
    auto ima = load_ima_log(options.ima_file);
    if (!ima.ok()) return report_error(ima.status(), options.json);
    document["ima"] = measure::to_json(*ima);
  }
  if (options.json) {
    print_document(document, true);
    return kExitOk;
  }
  print_events(*loaded, document.at("log"));
  if (document.contains("ima")) {
    std::printf("\nIMA measurement list %s\n", options.ima_file.c_str());
    print_document(document.at("ima"), false);
  }
  return kExitOk;
}

int run_replay(const ReplayOptions& options, const measure::PlatformPaths& paths) {
  auto loaded = load_event_log(options.eventlog_file, paths);
  if (!loaded.ok()) return report_error(loaded.status(), options.json);
  std::optional<measure::ImaLog> ima;
  if (!options.ima_file.empty()) {
    auto parsed = load_ima_log(options.ima_file);
    if (!parsed.ok()) return report_error(parsed.status(), options.json);
    ima = std::move(parsed).value();
  }
  if (loaded->is_tpm_log && (ima || !options.quote_file.empty())) {
    return report_error(
        make_error(ErrorCode::kInvalidArgument,
                   "{} is a TPM2 log (PCRs); --ima and --quote apply to a CCEL (RTMRs)",
                   loaded->origin),
        options.json);
  }
  auto replayed = loaded->is_tpm_log ? measure::replay_pcrs(loaded->log)
                                     : measure::replay_rtmrs(loaded->log, ima ? &*ima : nullptr);
  if (!replayed.ok())
    return report_error(replayed.status().with_context(loaded->origin), options.json);

  nlohmann::json document = {{"eventlog", loaded->origin},
                             {"kind", loaded->is_tpm_log ? "tpm2" : "ccel"},
                             {"replay", measure::to_json(*replayed)}};
  if (!options.ima_file.empty()) document["ima"] = options.ima_file;
  if (options.quote_file.empty()) {
    print_document(document, options.json);
    return kExitOk;
  }

  auto bytes = read_evidence_file(options.quote_file);
  if (!bytes.ok()) return report_error(bytes.status(), options.json);
  auto parsed = parse_evidence(*bytes, options.quote_file);
  if (!parsed.ok()) return report_error(parsed.status(), options.json);
  const auto* quote = std::get_if<measure::TdxQuote>(&*parsed);
  if (quote == nullptr) {
    return report_error(make_error(ErrorCode::kInvalidArgument,
                                   "{} is an SNP report: it has no RTMRs to compare with a "
                                   "replayed event log",
                                   options.quote_file),
                        options.json);
  }
  measure::RegisterValues expected;
  for (std::uint32_t index = 0; index < 4; ++index) {
    const auto& rtmr = quote->body.rtmr[index];
    expected[measure::RegisterId::rtmr(index)] = Bytes(rtmr.begin(), rtmr.end());
  }
  const auto mismatches = measure::compare_registers(expected, replayed->registers);
  document["quote"] = options.quote_file;
  document["match"] = mismatches.empty();
  if (!mismatches.empty()) document["mismatches"] = measure::to_json(mismatches);
  print_document(document, options.json);
  if (mismatches.empty()) return kExitOk;
  Status status = measure::check_registers_match(expected, replayed->registers);
  std::fprintf(stderr, "cc-measure: %s\n", status.to_string().c_str());
  return exit_status_for(status);
}

}  // namespace ccfde::cc_measure
