// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/snp_report_json.h"

#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "ccfde/common/json_member.h"

namespace ccfde::measure {
namespace {

using nlohmann::json;

// The member `key` of `object`, or kMalformed. Never throws.
Result<const json*> member(const json& object, std::string_view key) {
  return json_member(object, key, ErrorCode::kMalformed, "SNP report JSON");
}

Result<std::uint64_t> unsigned_value(const json& value, std::string_view name, std::uint64_t max) {
  if (!value.is_number_unsigned() &&
      !(value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report JSON: \"{}\" must be a non-negative integer, found {}", name,
                      value.dump());
  }
  const auto number = value.get<std::uint64_t>();
  if (number > max) {
    return make_error(ErrorCode::kMalformed, "SNP report JSON: \"{}\" is {}, at most {} allowed",
                      name, number, max);
  }
  return number;
}

template <typename T>
Result<T> get_uint(const json& object, std::string_view key) {
  CCFDE_ASSIGN_OR_RETURN(const json* value, member(object, key));
  CCFDE_ASSIGN_OR_RETURN(const std::uint64_t number,
                         unsigned_value(*value, key, std::numeric_limits<T>::max()));
  return static_cast<T>(number);
}

// An optional integer member: absent or null gives nullopt.
template <typename T>
Result<std::optional<T>> get_optional_uint(const json& object, std::string_view key) {
  if (!object.is_object()) return std::optional<T>();
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<T>();
  CCFDE_ASSIGN_OR_RETURN(const std::uint64_t number,
                         unsigned_value(*it, key, std::numeric_limits<T>::max()));
  return std::optional<T>(static_cast<T>(number));
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> get_bytes(const json& object, std::string_view key) {
  CCFDE_ASSIGN_OR_RETURN(const json* value, member(object, key));
  if (!value->is_array() || value->size() != N) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report JSON: \"{}\" must be an array of {} byte values", key, N);
  }
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    CCFDE_ASSIGN_OR_RETURN(const std::uint64_t byte,
                           unsigned_value((*value)[i], fmt::format("{}[{}]", key, i), 0xFF));
    out[i] = static_cast<std::uint8_t>(byte);
  }
  return out;
}

Result<SnpTcb> get_tcb(const json& object, std::string_view key, SnpTcbLayout layout) {
  CCFDE_ASSIGN_OR_RETURN(const json* tcb, member(object, key));
  SnpTcbParts parts;
  CCFDE_ASSIGN_OR_RETURN(parts.fmc, get_optional_uint<std::uint8_t>(*tcb, "fmc"));
  CCFDE_ASSIGN_OR_RETURN(parts.bootloader, get_uint<std::uint8_t>(*tcb, "bootloader"));
  CCFDE_ASSIGN_OR_RETURN(parts.tee, get_uint<std::uint8_t>(*tcb, "tee"));
  CCFDE_ASSIGN_OR_RETURN(parts.snp, get_uint<std::uint8_t>(*tcb, "snp"));
  CCFDE_ASSIGN_OR_RETURN(parts.microcode, get_uint<std::uint8_t>(*tcb, "microcode"));
  auto encoded = encode_snp_tcb(parts, layout);
  if (!encoded.ok()) {
    return make_error(ErrorCode::kMalformed, "SNP report JSON: \"{}\": {}", key,
                      encoded.status().message());
  }
  return encoded;
}

Result<SnpFirmwareVersion> get_firmware(const json& object, std::string_view key) {
  CCFDE_ASSIGN_OR_RETURN(const json* version, member(object, key));
  SnpFirmwareVersion out;
  CCFDE_ASSIGN_OR_RETURN(out.major, get_uint<std::uint8_t>(*version, "major"));
  CCFDE_ASSIGN_OR_RETURN(out.minor, get_uint<std::uint8_t>(*version, "minor"));
  CCFDE_ASSIGN_OR_RETURN(out.build, get_uint<std::uint8_t>(*version, "build"));
  return out;
}

template <std::size_t N>
json byte_array(const std::array<std::uint8_t, N>& bytes) {
  json out = json::array();
  for (std::uint8_t byte : bytes) out.push_back(byte);
  return out;
}

json tcb_json(const SnpTcb& tcb) {
  return {{"fmc", tcb.parts.fmc ? json(*tcb.parts.fmc) : json(nullptr)},
          {"bootloader", tcb.parts.bootloader},
          {"tee", tcb.parts.tee},
          {"snp", tcb.parts.snp},
          {"microcode", tcb.parts.microcode}};
}

json firmware_json(const SnpFirmwareVersion& version) {
  return {{"major", version.major}, {"minor", version.minor}, {"build", version.build}};
}

}  // namespace

Result<SnpReport> snp_report_from_trustee_json(const json& object) {
  SnpReport report;
  CCFDE_ASSIGN_OR_RETURN(report.version, get_uint<std::uint32_t>(object, "version"));
  CCFDE_ASSIGN_OR_RETURN(report.guest_svn, get_uint<std::uint32_t>(object, "guest_svn"));
  CCFDE_ASSIGN_OR_RETURN(report.policy.raw, get_uint<std::uint64_t>(object, "policy"));
  CCFDE_ASSIGN_OR_RETURN(report.family_id, get_bytes<16>(object, "family_id"));
  CCFDE_ASSIGN_OR_RETURN(report.image_id, get_bytes<16>(object, "image_id"));
  CCFDE_ASSIGN_OR_RETURN(report.vmpl, get_uint<std::uint32_t>(object, "vmpl"));
  CCFDE_ASSIGN_OR_RETURN(report.signature_algo, get_uint<std::uint32_t>(object, "sig_algo"));
  CCFDE_ASSIGN_OR_RETURN(report.platform_info.raw, get_uint<std::uint64_t>(object, "plat_info"));
  CCFDE_ASSIGN_OR_RETURN(report.signer_info.raw, get_uint<std::uint32_t>(object, "key_info"));
  CCFDE_ASSIGN_OR_RETURN(report.report_data, get_bytes<64>(object, "report_data"));
  CCFDE_ASSIGN_OR_RETURN(report.measurement, get_bytes<48>(object, "measurement"));
  CCFDE_ASSIGN_OR_RETURN(report.host_data, get_bytes<32>(object, "host_data"));
  CCFDE_ASSIGN_OR_RETURN(report.id_key_digest, get_bytes<48>(object, "id_key_digest"));
  CCFDE_ASSIGN_OR_RETURN(report.author_key_digest, get_bytes<48>(object, "author_key_digest"));
  CCFDE_ASSIGN_OR_RETURN(report.report_id, get_bytes<32>(object, "report_id"));
  CCFDE_ASSIGN_OR_RETURN(report.report_id_ma, get_bytes<32>(object, "report_id_ma"));
  CCFDE_ASSIGN_OR_RETURN(report.chip_id, get_bytes<64>(object, "chip_id"));

  CCFDE_ASSIGN_OR_RETURN(auto family, get_optional_uint<std::uint8_t>(object, "cpuid_fam_id"));
  CCFDE_ASSIGN_OR_RETURN(auto model, get_optional_uint<std::uint8_t>(object, "cpuid_mod_id"));
  CCFDE_ASSIGN_OR_RETURN(auto step, get_optional_uint<std::uint8_t>(object, "cpuid_step"));
  SnpTcbLayout layout = SnpTcbLayout::kMilanGenoa;
  if (report.version >= 3) {
    if (!family || !model || !step) {
      return make_error(ErrorCode::kMalformed,
                        "SNP report JSON: a version {} report needs cpuid_fam_id, cpuid_mod_id "
                        "and cpuid_step",
                        report.version);
    }
    report.cpuid = SnpCpuid{*family, *model, *step};
    layout = snp_tcb_layout_for_family(*family);
  } else if (family.value_or(0) != 0 || model.value_or(0) != 0 || step.value_or(0) != 0) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report JSON: a version {} report has no CPUID fields", report.version);
  }

  CCFDE_ASSIGN_OR_RETURN(report.current_tcb, get_tcb(object, "current_tcb", layout));
  CCFDE_ASSIGN_OR_RETURN(report.reported_tcb, get_tcb(object, "reported_tcb", layout));
  CCFDE_ASSIGN_OR_RETURN(report.committed_tcb, get_tcb(object, "committed_tcb", layout));
  CCFDE_ASSIGN_OR_RETURN(report.launch_tcb, get_tcb(object, "launch_tcb", layout));
  CCFDE_ASSIGN_OR_RETURN(report.current_version, get_firmware(object, "current"));
  CCFDE_ASSIGN_OR_RETURN(report.committed_version, get_firmware(object, "committed"));

  CCFDE_ASSIGN_OR_RETURN(auto launch_mit,
                         get_optional_uint<std::uint64_t>(object, "launch_mit_vector"));
  CCFDE_ASSIGN_OR_RETURN(auto current_mit,
                         get_optional_uint<std::uint64_t>(object, "current_mit_vector"));
  if (report.version >= 5) {
    report.launch_mit_vector = launch_mit.value_or(0);
    report.current_mit_vector = current_mit.value_or(0);
  } else if (launch_mit.value_or(0) != 0 || current_mit.value_or(0) != 0) {
    return make_error(ErrorCode::kMalformed,
                      "SNP report JSON: a version {} report has no mitigation vectors",
                      report.version);
  }

  CCFDE_ASSIGN_OR_RETURN(const json* signature, member(object, "signature"));
  CCFDE_ASSIGN_OR_RETURN(report.signature_r, get_bytes<72>(*signature, "r"));
  CCFDE_ASSIGN_OR_RETURN(report.signature_s, get_bytes<72>(*signature, "s"));

  // Re-parsing applies every check of the binary parser (version, MBZ bits, signing key) and
  // fills the derived and decoded fields exactly as for binary input.
  return parse_snp_report(serialize_snp_report(report));
}

json snp_report_to_trustee_json(const SnpReport& report) {
  json out = {
      {"version", report.version},
      {"guest_svn", report.guest_svn},
      {"policy", report.policy.raw},
      {"family_id", byte_array(report.family_id)},
      {"image_id", byte_array(report.image_id)},
      {"vmpl", report.vmpl},
      {"sig_algo", report.signature_algo},
      {"current_tcb", tcb_json(report.current_tcb)},
      {"plat_info", report.platform_info.raw},
      {"key_info", report.signer_info.raw},
      {"report_data", byte_array(report.report_data)},
      {"measurement", byte_array(report.measurement)},
      {"host_data", byte_array(report.host_data)},
      {"id_key_digest", byte_array(report.id_key_digest)},
      {"author_key_digest", byte_array(report.author_key_digest)},
      {"report_id", byte_array(report.report_id)},
      {"report_id_ma", byte_array(report.report_id_ma)},
      {"reported_tcb", tcb_json(report.reported_tcb)},
      {"cpuid_fam_id", report.cpuid ? json(report.cpuid->family) : json(nullptr)},
      {"cpuid_mod_id", report.cpuid ? json(report.cpuid->model) : json(nullptr)},
      {"cpuid_step", report.cpuid ? json(report.cpuid->stepping) : json(nullptr)},
      {"chip_id", byte_array(report.chip_id)},
      {"committed_tcb", tcb_json(report.committed_tcb)},
      {"current", firmware_json(report.current_version)},
      {"committed", firmware_json(report.committed_version)},
      {"launch_tcb", tcb_json(report.launch_tcb)},
      {"signature", {{"r", byte_array(report.signature_r)}, {"s", byte_array(report.signature_s)}}},
  };
  if (report.version >= 5) {
    out["launch_mit_vector"] = report.launch_mit_vector.value_or(0);
    out["current_mit_vector"] = report.current_mit_vector.value_or(0);
  }
  return out;
}

}  // namespace ccfde::measure
