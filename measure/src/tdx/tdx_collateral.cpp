// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tdx_collateral.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "ccfde/common/encoding.h"

namespace ccfde::measure {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<TcbStatus, std::string_view>, 7> kStatusNames = {{
    {TcbStatus::kUpToDate, "UpToDate"},
    {TcbStatus::kSwHardeningNeeded, "SWHardeningNeeded"},
    {TcbStatus::kConfigurationNeeded, "ConfigurationNeeded"},
    {TcbStatus::kConfigurationAndSwHardeningNeeded, "ConfigurationAndSWHardeningNeeded"},
    {TcbStatus::kOutOfDate, "OutOfDate"},
    {TcbStatus::kOutOfDateConfigurationNeeded, "OutOfDateConfigurationNeeded"},
    {TcbStatus::kRevoked, "Revoked"},
}};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A cursor over the document text for locating the exact bytes of top-level members. The text is
// also parsed with nlohmann::json first, so this only has to find boundaries in valid JSON.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  void skip_space() {
    while (position_ < text_.size() && is_space(text_[position_])) ++position_;
  }
  bool at_end() const { return position_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[position_]; }
  void advance() { ++position_; }
  std::size_t position() const { return position_; }

  // The raw text of a string token (quotes excluded, escapes left as written).
  std::string_view string_token() {
    const std::size_t start = ++position_;
    while (!at_end() && text_[position_] != '"') {
      if (text_[position_] == '\\') ++position_;
      ++position_;
    }
    const std::string_view token = text_.substr(start, position_ - start);
    ++position_;
    return token;
  }

  // Skips one value (object, array, string or scalar).
  void skip_value() {
    if (peek() == '"') {
      string_token();
      return;
    }
    if (peek() != '{' && peek() != '[') {
      while (!at_end() && text_[position_] != ',' && text_[position_] != '}' &&
             text_[position_] != ']' && !is_space(text_[position_])) {
        ++position_;
      }
      return;
    }
    int depth = 0;
    while (!at_end()) {
      const char c = text_[position_];
      if (c == '"') {
        string_token();
        continue;
      }
      ++position_;
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return;
      }
    }
  }

 private:
  std::string_view text_;
  std::size_t position_ = 0;
};

Status malformed(std::string_view document, std::string_view what) {
  return make_error(ErrorCode::kMalformed, "{}: {}", document, what);
}

// Reads members of one parsed object with messages that name the document and the path.
class Fields {
 public:
  Fields(const json& object, std::string_view document, std::string path)
      : object_(object), document_(document), path_(std::move(path)) {}

  std::string name(std::string_view member) const {
    return path_.empty() ? std::string(member) : fmt::format("{}.{}", path_, member);
  }

  Result<const json*> member(std::string_view member) const {
    if (!object_.is_object())
      return malformed(document_, fmt::format("{} is not an object", path_));
    const auto found = object_.find(std::string(member));
    if (found == object_.end()) {
      return malformed(document_, fmt::format("member \"{}\" is missing", name(member)));
    }
    return &*found;
  }

  Result<std::string> string(std::string_view member) const {
    CCFDE_ASSIGN_OR_RETURN(const json* value, this->member(member));
    if (!value->is_string()) {
      return malformed(document_, fmt::format("member \"{}\" must be a string", name(member)));
    }
    return value->get<std::string>();
  }

  Result<std::uint64_t> number(std::string_view member, std::uint64_t maximum) const {
    CCFDE_ASSIGN_OR_RETURN(const json* value, this->member(member));
    if (!value->is_number_unsigned() || value->get<std::uint64_t>() > maximum) {
      return malformed(document_, fmt::format("member \"{}\" must be an integer in [0, {}]",
                                              name(member), maximum));
    }
    return value->get<std::uint64_t>();
  }

  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> hex(std::string_view member) const {
    CCFDE_ASSIGN_OR_RETURN(std::string text, string(member));
    auto bytes = hex_decode(text);
    if (!bytes.ok() || bytes->size() != N) {
      return malformed(document_,
                       fmt::format("member \"{}\" must be {} hex digits", name(member), 2 * N));
    }
    std::array<std::uint8_t, N> out{};
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return out;
  }

  Result<TimePoint> date(std::string_view member) const {
    CCFDE_ASSIGN_OR_RETURN(std::string text, string(member));
    auto time = parse_rfc3339(text);
    if (!time.ok()) {
      return malformed(document_,
                       fmt::format("member \"{}\" is not an RFC 3339 date", name(member)));
    }
    return *time;
  }

  Result<TcbStatus> status(std::string_view member) const {
    CCFDE_ASSIGN_OR_RETURN(std::string text, string(member));
    auto status = parse_tcb_status(text);
    if (!status.ok()) {
      return malformed(document_, fmt::format("member \"{}\" is the unknown TCB status '{}'",
                                              name(member), escape_nonprintable(text)));
    }
    return *status;
  }

  Result<std::vector<std::string>> optional_strings(std::string_view member) const {
    std::vector<std::string> out;
    const auto found = object_.find(std::string(member));
    if (found == object_.end()) return out;
    if (!found->is_array()) {
      return malformed(document_, fmt::format("member \"{}\" must be an array", name(member)));
    }
    for (const json& element : *found) {
      if (!element.is_string()) {
        return malformed(document_,
                         fmt::format("member \"{}\" must hold only strings", name(member)));
      }
      out.push_back(element.get<std::string>());
    }
    return out;
  }

  Result<const json*> array(std::string_view member) const {
    CCFDE_ASSIGN_OR_RETURN(const json* value, this->member(member));
    if (!value->is_array()) {
      return malformed(document_, fmt::format("member \"{}\" must be an array", name(member)));
    }
    return value;
  }

  Fields child(const json& object, std::string path) const {
    return Fields(object, document_, std::move(path));
  }

 private:
  const json& object_;
  std::string_view document_;
  std::string path_;
};

nlohmann::json escaped(const std::vector<std::string>& texts) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& text : texts) out.push_back(escape_nonprintable(text));
  return out;
}

Result<json> parse_object(std::string_view body, std::string_view document) {
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return malformed(document, "not valid JSON");
  if (!parsed.is_object()) return malformed(document, "not a JSON object");
  return parsed;
}

// The 16 "svn" values of a TCB component array.
Result<std::array<std::uint8_t, 16>> components(const Fields& fields, std::string_view member) {
  CCFDE_ASSIGN_OR_RETURN(const json* list, fields.array(member));
  if (list->size() != 16) {
    return make_error(ErrorCode::kMalformed, "member \"{}\" has {} components, expected 16",
                      fields.name(member), list->size());
  }
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const Fields component =
        fields.child((*list)[i], fmt::format("{}[{}]", fields.name(member), i));
    CCFDE_ASSIGN_OR_RETURN(auto svn, component.number("svn", 255));
    out[i] = static_cast<std::uint8_t>(svn);
  }
  return out;
}

Result<std::vector<IsvTcbLevel>> isv_tcb_levels(const Fields& fields) {
  CCFDE_ASSIGN_OR_RETURN(const json* list, fields.array("tcbLevels"));
  if (list->empty()) {
    return make_error(ErrorCode::kMalformed, "member \"{}\" is empty", fields.name("tcbLevels"));
  }
  std::vector<IsvTcbLevel> levels;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Fields level =
        fields.child((*list)[i], fmt::format("{}[{}]", fields.name("tcbLevels"), i));
    CCFDE_ASSIGN_OR_RETURN(const json* tcb, level.member("tcb"));
    IsvTcbLevel out;
    CCFDE_ASSIGN_OR_RETURN(auto isv_svn,
                           level.child(*tcb, level.name("tcb")).number("isvsvn", 0xffff));
    out.isv_svn = static_cast<std::uint16_t>(isv_svn);
    CCFDE_ASSIGN_OR_RETURN(out.tcb_date, level.string("tcbDate"));
    CCFDE_ASSIGN_OR_RETURN(out.status, level.status("tcbStatus"));
    CCFDE_ASSIGN_OR_RETURN(out.advisory_ids, level.optional_strings("advisoryIDs"));
    levels.push_back(std::move(out));
  }
  return levels;
}

Status expect_identity(const Fields& fields, std::string_view document,
                       std::string_view expected_id, int expected_version, std::string& id,
                       int& version) {
  CCFDE_ASSIGN_OR_RETURN(id, fields.string("id"));
  CCFDE_ASSIGN_OR_RETURN(auto number, fields.number("version", 1000));
  version = static_cast<int>(number);
  if (id != expected_id || version != expected_version) {
    return make_error(ErrorCode::kUnsupportedVersion,
                      "{}: id '{}' version {}, expected id '{}' version {}", document,
                      escape_nonprintable(id), version, expected_id, expected_version);
  }
  return Status::ok_status();
}

}  // namespace

std::string_view tcb_status_name(TcbStatus status) noexcept {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) return name;
  }
  return "Unknown";
}

Result<TcbStatus> parse_tcb_status(std::string_view name) {
  for (const auto& [value, known] : kStatusNames) {
    if (known == name) return value;
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown TCB status '{}'",
                    escape_nonprintable(name));
}

Result<SignedCollateralDocument> split_signed_document(std::string_view text,
                                                       std::string_view member) {
  const std::string document = fmt::format("\"{}\" document", member);
  CCFDE_ASSIGN_OR_RETURN(json parsed, parse_object(text, document));
  static_cast<void>(parsed);

  Scanner scanner(text);
  scanner.skip_space();
  scanner.advance();  // '{'
  std::set<std::string> seen;
  std::optional<std::string_view> body;
  std::optional<std::string> signature_hex;
  for (;;) {
    scanner.skip_space();
    if (scanner.peek() == '}') break;
    if (scanner.peek() == ',') {
      scanner.advance();
      scanner.skip_space();
    }
    const std::string key(scanner.string_token());
    if (!seen.insert(key).second) {
      return malformed(
          document, fmt::format("top-level member \"{}\" appears twice", escape_nonprintable(key)));
    }
    scanner.skip_space();
    scanner.advance();  // ':'
    scanner.skip_space();
    const std::size_t start = scanner.position();
    const bool is_object = scanner.peek() == '{';
    const bool is_string = scanner.peek() == '"';
    scanner.skip_value();
    const std::string_view value = text.substr(start, scanner.position() - start);
    if (key == member) {
      if (!is_object) return malformed(document, fmt::format("\"{}\" is not an object", member));
      body = value;
    } else if (key == "signature") {
      if (!is_string) return malformed(document, "\"signature\" is not a string");
      signature_hex = std::string(value.substr(1, value.size() - 2));
    } else {
      return malformed(document,
                       fmt::format("unexpected top-level member \"{}\"", escape_nonprintable(key)));
    }
  }
  if (!body) return malformed(document, fmt::format("member \"{}\" is missing", member));
  if (!signature_hex) return malformed(document, "member \"signature\" is missing");
  auto signature = hex_decode(*signature_hex);
  if (!signature.ok() || signature->size() != 64) {
    return malformed(document, "\"signature\" is not 128 hex digits (ECDSA P-256 r || s)");
  }
  SignedCollateralDocument out;
  out.body = std::string(*body);
  std::copy(signature->begin(), signature->end(), out.signature.begin());
  return out;
}

Result<TdxTcbInfo> parse_tdx_tcb_info(std::string_view body) {
  CCFDE_ASSIGN_OR_RETURN(json parsed, parse_object(body, "TCB Info"));
  const Fields fields(parsed, "TCB Info", "tcbInfo");
  TdxTcbInfo info;
  CCFDE_RETURN_IF_ERROR(expect_identity(fields, "TCB Info", "TDX", 3, info.id, info.version));
  CCFDE_ASSIGN_OR_RETURN(info.issue_date, fields.date("issueDate"));
  CCFDE_ASSIGN_OR_RETURN(info.next_update, fields.date("nextUpdate"));
  CCFDE_ASSIGN_OR_RETURN(info.fmspc, fields.hex<6>("fmspc"));
  CCFDE_ASSIGN_OR_RETURN(info.pce_id, fields.hex<2>("pceId"));
  CCFDE_ASSIGN_OR_RETURN(auto tcb_type, fields.number("tcbType", 0));
  info.tcb_type = static_cast<int>(tcb_type);
  CCFDE_ASSIGN_OR_RETURN(auto evaluation, fields.number("tcbEvaluationDataNumber",
                                                        std::numeric_limits<std::uint32_t>::max()));
  info.tcb_evaluation_data_number = static_cast<std::uint32_t>(evaluation);

  CCFDE_ASSIGN_OR_RETURN(const json* module, fields.member("tdxModule"));
  const Fields module_fields = fields.child(*module, "tcbInfo.tdxModule");
  CCFDE_ASSIGN_OR_RETURN(info.tdx_module_mr_signer, module_fields.hex<48>("mrsigner"));
  CCFDE_ASSIGN_OR_RETURN(info.tdx_module_attributes, module_fields.hex<8>("attributes"));
  CCFDE_ASSIGN_OR_RETURN(info.tdx_module_attributes_mask, module_fields.hex<8>("attributesMask"));

  if (parsed.contains("tdxModuleIdentities")) {
    CCFDE_ASSIGN_OR_RETURN(const json* identities, fields.array("tdxModuleIdentities"));
    for (std::size_t i = 0; i < identities->size(); ++i) {
      const Fields identity =
          fields.child((*identities)[i], fmt::format("tcbInfo.tdxModuleIdentities[{}]", i));
      TdxModuleIdentity out;
      CCFDE_ASSIGN_OR_RETURN(out.id, identity.string("id"));
      CCFDE_ASSIGN_OR_RETURN(out.mr_signer, identity.hex<48>("mrsigner"));
      CCFDE_ASSIGN_OR_RETURN(out.attributes, identity.hex<8>("attributes"));
      CCFDE_ASSIGN_OR_RETURN(out.attributes_mask, identity.hex<8>("attributesMask"));
      CCFDE_ASSIGN_OR_RETURN(out.tcb_levels, isv_tcb_levels(identity));
      info.tdx_module_identities.push_back(std::move(out));
    }
  }

  CCFDE_ASSIGN_OR_RETURN(const json* levels, fields.array("tcbLevels"));
  if (levels->empty()) return malformed("TCB Info", "member \"tcbInfo.tcbLevels\" is empty");
  for (std::size_t i = 0; i < levels->size(); ++i) {
    const Fields level = fields.child((*levels)[i], fmt::format("tcbInfo.tcbLevels[{}]", i));
    CCFDE_ASSIGN_OR_RETURN(const json* tcb, level.member("tcb"));
    const Fields tcb_fields = level.child(*tcb, level.name("tcb"));
    TdxTcbLevel out;
    CCFDE_ASSIGN_OR_RETURN(out.sgx_tcb_components, components(tcb_fields, "sgxtcbcomponents"));
    CCFDE_ASSIGN_OR_RETURN(auto pce_svn, tcb_fields.number("pcesvn", 0xffff));
    out.pce_svn = static_cast<std::uint16_t>(pce_svn);
    CCFDE_ASSIGN_OR_RETURN(out.tdx_tcb_components, components(tcb_fields, "tdxtcbcomponents"));
    CCFDE_ASSIGN_OR_RETURN(out.tcb_date, level.string("tcbDate"));
    CCFDE_ASSIGN_OR_RETURN(out.status, level.status("tcbStatus"));
    CCFDE_ASSIGN_OR_RETURN(out.advisory_ids, level.optional_strings("advisoryIDs"));
    info.tcb_levels.push_back(std::move(out));
  }
  return info;
}

Result<QeIdentity> parse_qe_identity(std::string_view body) {
  CCFDE_ASSIGN_OR_RETURN(json parsed, parse_object(body, "QE Identity"));
  const Fields fields(parsed, "QE Identity", "enclaveIdentity");
  QeIdentity identity;
  CCFDE_RETURN_IF_ERROR(
      expect_identity(fields, "QE Identity", "TD_QE", 2, identity.id, identity.version));
  CCFDE_ASSIGN_OR_RETURN(identity.issue_date, fields.date("issueDate"));
  CCFDE_ASSIGN_OR_RETURN(identity.next_update, fields.date("nextUpdate"));
  CCFDE_ASSIGN_OR_RETURN(auto evaluation, fields.number("tcbEvaluationDataNumber",
                                                        std::numeric_limits<std::uint32_t>::max()));
  identity.tcb_evaluation_data_number = static_cast<std::uint32_t>(evaluation);
  CCFDE_ASSIGN_OR_RETURN(auto misc_select, fields.hex<4>("miscselect"));
  CCFDE_ASSIGN_OR_RETURN(auto misc_select_mask, fields.hex<4>("miscselectMask"));
  for (std::size_t i = 0; i < 4; ++i) {
    identity.misc_select = (identity.misc_select << 8) | misc_select[i];
    identity.misc_select_mask = (identity.misc_select_mask << 8) | misc_select_mask[i];
  }
  CCFDE_ASSIGN_OR_RETURN(identity.attributes, fields.hex<16>("attributes"));
  CCFDE_ASSIGN_OR_RETURN(identity.attributes_mask, fields.hex<16>("attributesMask"));
  CCFDE_ASSIGN_OR_RETURN(identity.mr_signer, fields.hex<32>("mrsigner"));
  CCFDE_ASSIGN_OR_RETURN(auto isv_prod_id, fields.number("isvprodid", 0xffff));
  identity.isv_prod_id = static_cast<std::uint16_t>(isv_prod_id);
  CCFDE_ASSIGN_OR_RETURN(identity.tcb_levels, isv_tcb_levels(fields));
  return identity;
}

nlohmann::json to_json(const TdxTcbLevel& level) {
  return {
      {"sgx_tcb_components", hex_encode(level.sgx_tcb_components)},
      {"pce_svn", level.pce_svn},
      {"tdx_tcb_components", hex_encode(level.tdx_tcb_components)},
      {"tcb_date", escape_nonprintable(level.tcb_date)},
      {"tcb_status", tcb_status_name(level.status)},
      {"advisory_ids", escaped(level.advisory_ids)},
  };
}

nlohmann::json to_json(const IsvTcbLevel& level) {
  return {
      {"isv_svn", level.isv_svn},
      {"tcb_date", escape_nonprintable(level.tcb_date)},
      {"tcb_status", tcb_status_name(level.status)},
      {"advisory_ids", escaped(level.advisory_ids)},
  };
}

}  // namespace ccfde::measure
