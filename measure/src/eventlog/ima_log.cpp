// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/ima_log.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include "ccfde/common/byte_reader.h"
#include "ccfde/common/encoding.h"
#include "text.h"

namespace ccfde::measure {

namespace {

constexpr std::size_t kMaxTemplateNameLength = 255;

struct FileDigestAlgorithm {
  std::string_view name;
  std::size_t size;
};

// The kernel's hash_algo_name[] entries and their digest sizes.
constexpr std::array kFileDigestAlgorithms = {
    FileDigestAlgorithm{"md4", 16},         FileDigestAlgorithm{"md5", 16},
    FileDigestAlgorithm{"sha1", 20},        FileDigestAlgorithm{"rmd160", 20},
    FileDigestAlgorithm{"sha256", 32},      FileDigestAlgorithm{"sha384", 48},
    FileDigestAlgorithm{"sha512", 64},      FileDigestAlgorithm{"sha224", 28},
    FileDigestAlgorithm{"rmd128", 16},      FileDigestAlgorithm{"rmd256", 32},
    FileDigestAlgorithm{"rmd320", 40},      FileDigestAlgorithm{"wp256", 32},
    FileDigestAlgorithm{"wp384", 48},       FileDigestAlgorithm{"wp512", 64},
    FileDigestAlgorithm{"tgr128", 16},      FileDigestAlgorithm{"tgr160", 20},
    FileDigestAlgorithm{"tgr192", 24},      FileDigestAlgorithm{"sm3", 32},
    FileDigestAlgorithm{"streebog256", 32}, FileDigestAlgorithm{"streebog512", 64},
    FileDigestAlgorithm{"sha3-256", 32},    FileDigestAlgorithm{"sha3-384", 48},
    FileDigestAlgorithm{"sha3-512", 64},
};

Status check_file_digest(std::string_view algorithm, std::size_t size, std::string_view where) {
  for (const auto& entry : kFileDigestAlgorithms) {
    if (entry.name != algorithm) continue;
    if (entry.size != size) {
      return make_error(ErrorCode::kMalformed, "{}: a {} file digest has {} bytes, found {}", where,
                        algorithm, entry.size, size);
    }
    return Status();
  }
  return make_error(ErrorCode::kUnsupportedAlgorithm, "{}: unknown file digest algorithm \"{}\"",
                    where, escape_nonprintable(algorithm));
}

// 0 = no third field (ima-ng), 1 = third field (ima-sig, ima-buf).
Result<bool> template_has_extra_field(std::string_view name, std::string_view where) {
  if (name == "ima-ng") return false;
  if (name == "ima-sig" || name == "ima-buf") return true;
  return make_error(ErrorCode::kUnsupportedVersion,
                    "{}: template \"{}\" is not supported (expected ima-ng, ima-sig or ima-buf)",
                    where, escape_nonprintable(name));
}

Result<DigestAlgorithm> hash_algorithm_for_size(std::size_t size, std::string_view where) {
  for (auto algorithm : {DigestAlgorithm::kSha1, DigestAlgorithm::kSha256, DigestAlgorithm::kSha384,
                         DigestAlgorithm::kSha512}) {
    if (digest_size(algorithm) == size) return algorithm;
  }
  return make_error(ErrorCode::kUnsupportedAlgorithm,
                    "{}: a {}-byte template hash matches no known algorithm (20, 32, 48, 64)",
                    where, size);
}

bool all_zero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

void append_u32le(Bytes& out, std::size_t value) {
  auto v = static_cast<std::uint32_t>(value);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Status finish_entry(ImaEntry& entry, DigestAlgorithm algorithm) {
  entry.violation = all_zero(entry.template_hash);
  CCFDE_ASSIGN_OR_RETURN(entry.computed_template_hash, digest(algorithm, entry.template_data));
  entry.template_hash_matches =
      !entry.violation && entry.computed_template_hash == entry.template_hash;
  return Status();
}

// Splits the template data of ima-ng / ima-sig / ima-buf into its fields.
Status parse_template_data(ImaEntry& entry, bool extra_field, std::size_t data_offset) {
  ByteReader reader(entry.template_data, data_offset);
  CCFDE_ASSIGN_OR_RETURN(auto d_length, reader.u32le("d-ng length"));
  std::size_t d_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(auto d_field, reader.bytes(d_length, "d-ng field"));
  auto colon = std::find(d_field.begin(), d_field.end(), std::uint8_t{':'});
  if (colon == d_field.end() || colon + 1 == d_field.end() || *(colon + 1) != 0) {
    return make_error(ErrorCode::kMalformed,
                      "d-ng field at offset {}: expected \"<algo>:\\0<digest>\"", d_offset);
  }
  auto algo_size = static_cast<std::size_t>(colon - d_field.begin());
  entry.file_digest_algorithm = std::string(as_chars(d_field.first(algo_size)));
  auto file_digest = d_field.subspan(algo_size + 2);
  entry.file_digest.assign(file_digest.begin(), file_digest.end());
  CCFDE_RETURN_IF_ERROR(check_file_digest(entry.file_digest_algorithm, file_digest.size(),
                                          fmt::format("d-ng field at offset {}", d_offset)));
  CCFDE_ASSIGN_OR_RETURN(auto n_length, reader.u32le("n-ng length"));
  std::size_t n_offset = reader.offset();
  CCFDE_ASSIGN_OR_RETURN(auto n_field, reader.bytes(n_length, "n-ng field"));
  if (n_field.empty() || n_field.back() != 0) {
    return make_error(ErrorCode::kMalformed,
                      "n-ng field at offset {}: expected a NUL-terminated path", n_offset);
  }
  entry.path = std::string(as_chars(n_field.first(n_field.size() - 1)));
  if (extra_field) {
    CCFDE_ASSIGN_OR_RETURN(auto extra_length, reader.u32le("sig/buf length"));
    CCFDE_ASSIGN_OR_RETURN(auto extra, reader.bytes(extra_length, "sig/buf field"));
    entry.extra.assign(extra.begin(), extra.end());
  }
  if (!reader.at_end()) {
    return make_error(ErrorCode::kMalformed,
                      "template data of {}: {} unexpected bytes at offset {}", entry.template_name,
                      reader.remaining(), reader.offset());
  }
  return Status();
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r";
  auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

// The next space-separated token of `rest`, advancing `rest` past it and one separating space.
std::string_view next_token(std::string_view& rest) {
  auto space = rest.find(' ');
  std::string_view token = rest.substr(0, space);
  rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  return token;
}

Result<ImaEntry> parse_ascii_line(std::string_view line, std::size_t line_number,
                                  std::size_t offset, std::optional<DigestAlgorithm>& algorithm) {
  std::string where = fmt::format("IMA line {}", line_number);
  std::string_view rest = line;
  std::string_view pcr_text = next_token(rest);
  std::string_view hash_text = next_token(rest);
  std::string_view name_text = next_token(rest);
  std::string_view digest_text = next_token(rest);
  if (pcr_text.empty() || hash_text.empty() || name_text.empty() || digest_text.empty() ||
      rest.empty()) {
    return make_error(ErrorCode::kMalformed,
                      "{}: expected \"<pcr> <template-hash> <template-name> <algo>:<digest> "
                      "<path>\", found \"{}\"",
                      where, escape_nonprintable(line));
  }
  ImaEntry entry;
  entry.offset = offset;
  auto [end, ec] =
      std::from_chars(pcr_text.data(), pcr_text.data() + pcr_text.size(), entry.register_index);
  if (ec != std::errc() || end != pcr_text.data() + pcr_text.size()) {
    return make_error(ErrorCode::kMalformed, "{}: register \"{}\" is not a decimal number", where,
                      escape_nonprintable(pcr_text));
  }
  auto hash = hex_decode(hash_text);
  if (!hash.ok()) {
    return make_error(ErrorCode::kMalformed, "{} template hash: {}", where,
                      hash.status().message());
  }
  entry.template_hash = std::move(hash).value();
  CCFDE_ASSIGN_OR_RETURN(auto line_algorithm,
                         hash_algorithm_for_size(entry.template_hash.size(), where));
  if (algorithm && *algorithm != line_algorithm) {
    return make_error(ErrorCode::kMalformed,
                      "{}: template hash has {} bytes, earlier lines have {} ({})", where,
                      entry.template_hash.size(), digest_size(*algorithm), digest_name(*algorithm));
  }
  algorithm = line_algorithm;
  entry.template_name = std::string(name_text);
  CCFDE_ASSIGN_OR_RETURN(bool extra_field, template_has_extra_field(name_text, where));

  auto colon = digest_text.find(':');
  if (colon == std::string_view::npos) {
    return make_error(ErrorCode::kMalformed, "{}: file digest \"{}\" lacks \"<algo>:\"", where,
                      escape_nonprintable(digest_text));
  }
  entry.file_digest_algorithm = std::string(digest_text.substr(0, colon));
  auto file_digest = hex_decode(digest_text.substr(colon + 1));
  if (!file_digest.ok()) {
    return make_error(ErrorCode::kMalformed, "{} file digest: {}", where,
                      file_digest.status().message());
  }
  entry.file_digest = std::move(file_digest).value();
  CCFDE_RETURN_IF_ERROR(
      check_file_digest(entry.file_digest_algorithm, entry.file_digest.size(), where));

  // Candidate splits of the rest into path [+ hex field]; take the first whose template data
  // hashes to the listed template hash, else the last candidate (paths may contain spaces).
  struct Candidate {
    std::string_view path;
    Bytes extra;
  };
  std::vector<Candidate> candidates;
  candidates.push_back({rest, {}});
  if (extra_field) {
    auto space = rest.rfind(' ');
    if (space != std::string_view::npos) {
      auto extra = hex_decode(rest.substr(space + 1));
      if (extra.ok()) candidates.push_back({rest.substr(0, space), std::move(extra).value()});
    }
  }
  for (auto& candidate : candidates) {
    entry.path = std::string(candidate.path);
    entry.extra = std::move(candidate.extra);
    entry.template_data = build_ima_template_data(entry.file_digest_algorithm, entry.file_digest,
                                                  entry.path, extra_field, entry.extra);
    CCFDE_RETURN_IF_ERROR(finish_entry(entry, line_algorithm));
    if (entry.template_hash_matches) break;
  }
  return entry;
}

}  // namespace

Bytes build_ima_template_data(std::string_view file_digest_algorithm,
                              std::span<const std::uint8_t> file_digest, std::string_view path,
                              bool with_extra_field, std::span<const std::uint8_t> extra) {
  Bytes out;
  append_u32le(out, file_digest_algorithm.size() + 2 + file_digest.size());
  out.insert(out.end(), file_digest_algorithm.begin(), file_digest_algorithm.end());
  out.push_back(':');
  out.push_back(0);
  out.insert(out.end(), file_digest.begin(), file_digest.end());
  append_u32le(out, path.size() + 1);
  out.insert(out.end(), path.begin(), path.end());
  out.push_back(0);
  if (with_extra_field) {
    append_u32le(out, extra.size());
    out.insert(out.end(), extra.begin(), extra.end());
  }
  return out;
}

Result<ImaLog> parse_ima_ascii(std::string_view text) {
  ImaLog log;
  std::optional<DigestAlgorithm> algorithm;
  std::size_t line_number = 0;
  std::size_t position = 0;
  while (position < text.size()) {
    auto newline = text.find('\n', position);
    std::size_t line_end = newline == std::string_view::npos ? text.size() : newline;
    std::string_view raw_line = text.substr(position, line_end - position);
    std::size_t line_offset = position;
    position = line_end + 1;
    ++line_number;
    std::string_view line = trim(raw_line);
    if (line.empty()) continue;
    line_offset += static_cast<std::size_t>(line.data() - raw_line.data());
    CCFDE_ASSIGN_OR_RETURN(auto entry, parse_ascii_line(line, line_number, line_offset, algorithm));
    entry.index = log.entries.size();
    log.entries.push_back(std::move(entry));
  }
  if (algorithm) log.template_hash_algorithm = *algorithm;
  return log;
}

Result<ImaLog> parse_ima_binary(std::span<const std::uint8_t> bytes,
                                DigestAlgorithm template_hash_algorithm) {
  ImaLog log;
  log.template_hash_algorithm = template_hash_algorithm;
  ByteReader reader(bytes);
  while (!reader.at_end()) {
    ImaEntry entry;
    entry.index = log.entries.size();
    entry.offset = reader.offset();
    std::string where = fmt::format("IMA record {} at offset {}", entry.index, entry.offset);
    auto parse = [&]() -> Status {
      CCFDE_ASSIGN_OR_RETURN(entry.register_index, reader.u32le("pcr"));
      CCFDE_ASSIGN_OR_RETURN(auto hash,
                             reader.bytes(digest_size(template_hash_algorithm), "template hash"));
      entry.template_hash.assign(hash.begin(), hash.end());
      std::size_t name_offset = reader.offset();
      CCFDE_ASSIGN_OR_RETURN(auto name_length, reader.u32le("template name length"));
      if (name_length > kMaxTemplateNameLength) {
        return make_error(ErrorCode::kMalformed,
                          "template name length at offset {}: at most {}, found {}", name_offset,
                          kMaxTemplateNameLength, name_length);
      }
      CCFDE_ASSIGN_OR_RETURN(auto name, reader.bytes(name_length, "template name"));
      entry.template_name = std::string(as_chars(name));
      CCFDE_ASSIGN_OR_RETURN(bool extra_field,
                             template_has_extra_field(entry.template_name, "template name"));
      CCFDE_ASSIGN_OR_RETURN(auto data_length, reader.u32le("template data length"));
      std::size_t data_offset = reader.offset();
      CCFDE_ASSIGN_OR_RETURN(auto data, reader.bytes(data_length, "template data"));
      entry.template_data.assign(data.begin(), data.end());
      CCFDE_RETURN_IF_ERROR(parse_template_data(entry, extra_field, data_offset));
      return finish_entry(entry, template_hash_algorithm);
    };
    Status status = parse();
    if (!status.ok()) return status.with_context(where);
    log.entries.push_back(std::move(entry));
  }
  return log;
}

Bytes ima_extend_digest(const ImaEntry& entry) {
  if (entry.violation) return Bytes(entry.template_hash.size(), 0xFF);
  return entry.template_hash;
}

nlohmann::json to_json(const ImaEntry& entry) {
  return nlohmann::json{
      {"index", entry.index},
      {"offset", entry.offset},
      {"register_index", entry.register_index},
      {"template_hash", hex_encode(entry.template_hash)},
      {"template_name", escape_nonprintable(entry.template_name)},
      {"template_data", hex_encode(entry.template_data)},
      {"file_digest_algorithm", escape_nonprintable(entry.file_digest_algorithm)},
      {"file_digest", hex_encode(entry.file_digest)},
      {"path", escape_nonprintable(entry.path)},
      {"extra", hex_encode(entry.extra)},
      {"violation", entry.violation},
      {"computed_template_hash", hex_encode(entry.computed_template_hash)},
      {"template_hash_matches", entry.template_hash_matches},
  };
}

nlohmann::json to_json(const ImaLog& log) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& entry : log.entries) entries.push_back(to_json(entry));
  return nlohmann::json{{"template_hash_algorithm", digest_name(log.template_hash_algorithm)},
                        {"entry_count", log.entries.size()},
                        {"entries", std::move(entries)}};
}

}  // namespace ccfde::measure
