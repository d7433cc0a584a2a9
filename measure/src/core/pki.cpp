// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/pki.h"

#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <ctime>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_keys.h"

namespace ccfde::measure {
namespace {

constexpr std::string_view kPemBegin = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kPemEnd = "-----END CERTIFICATE-----";

bool is_ignorable_trailer(char c) {
  return c == '\0' || c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::string subject_of(const X509* certificate) {
  if (certificate == nullptr) return "(none)";
  char buffer[512];
  X509_NAME_oneline(X509_get_subject_name(certificate), buffer, sizeof buffer);
  return buffer;
}

void free_openssl_buffer(unsigned char* buffer) {
  OPENSSL_free(buffer);
}

bool is_leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

}  // namespace

Result<TimePoint> parse_rfc3339(std::string_view text) {
  auto fail = [&] {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}' is not an RFC 3339 time (expected YYYY-MM-DDTHH:MM:SSZ)", text);
  };
  // Exactly `count` ASCII digits at `at`: no sign, no space.
  auto read_digits = [](std::string_view field, std::size_t at, std::size_t count, int& value) {
    if (at + count > field.size()) return false;
    value = 0;
    for (const char c : field.substr(at, count)) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 19 || !read_digits(text, 0, 4, year) || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !read_digits(text, 11, 2, hour) ||
      text[13] != ':' || !read_digits(text, 14, 2, minute) || text[16] != ':' ||
      !read_digits(text, 17, 2, second)) {
    return fail();
  }
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    std::size_t digits = 1;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 1) return fail();
    rest.remove_prefix(digits);
  }
  int offset_seconds = 0;
  if (rest == "Z" || rest == "z") {
    offset_seconds = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int offset_hour = 0, offset_minute = 0;
    if (!read_digits(rest, 1, 2, offset_hour) || !read_digits(rest, 4, 2, offset_minute) ||
        offset_hour > 23 || offset_minute > 59) {
      return fail();
    }
    offset_seconds = (offset_hour * 3600 + offset_minute * 60) * (rest[0] == '-' ? -1 : 1);
  } else {
    return fail();
  }
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 ||
      second > 60) {
    return fail();
  }
  const int month_days = kDaysInMonth[month - 1] + (month == 2 && is_leap(year) ? 1 : 0);
  if (day > month_days) return fail();
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  const auto midnight = std::chrono::sys_days{date};
  return TimePoint{midnight + std::chrono::hours{hour} + std::chrono::minutes{minute} +
                   std::chrono::seconds{second} - std::chrono::seconds{offset_seconds}};
}

std::string format_rfc3339(TimePoint time) {
  const auto days = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date{days};
  const std::chrono::hh_mm_ss clock{time - days};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     clock.hours().count(), clock.minutes().count(), clock.seconds().count());
}

Result<std::vector<X509Ptr>> parse_pem_certificates(std::span<const std::uint8_t> pem) {
  std::string_view text = as_chars(pem);
  while (!text.empty() && is_ignorable_trailer(text.back())) text.remove_suffix(1);
  std::vector<X509Ptr> certificates;
  std::size_t position = 0;
  while (position < text.size()) {
    while (position < text.size() && is_ignorable_trailer(text[position])) ++position;
    if (position == text.size()) break;
    const std::size_t index = certificates.size();
    if (text.compare(position, kPemBegin.size(), kPemBegin) != 0) {
      return make_error(ErrorCode::kCertificateInvalid,
                        "PEM certificate {} at offset {}: expected '{}'", index, position,
                        kPemBegin);
    }
    const std::size_t end = text.find(kPemEnd, position);
    if (end == std::string_view::npos) {
      return make_error(ErrorCode::kCertificateInvalid,
                        "PEM certificate {} at offset {}: no '{}' line", index, position, kPemEnd);
    }
    const std::size_t block_end = end + kPemEnd.size();
    BioPtr bio(BIO_new_mem_buf(text.data() + position, static_cast<int>(block_end - position)));
    if (!bio) return openssl_error(ErrorCode::kCryptoError, "BIO_new_mem_buf failed");
    X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) {
      return openssl_error(
          ErrorCode::kCertificateInvalid,
          fmt::format("PEM certificate {} at offset {} does not parse", index, position));
    }
    certificates.push_back(std::move(certificate));
    position = block_end;
  }
  if (certificates.empty()) {
    return Status(ErrorCode::kCertificateInvalid, "no PEM certificate found");
  }
  return certificates;
}

Result<X509Ptr> parse_der_certificate(std::span<const std::uint8_t> der) {
  const unsigned char* cursor = der.data();
  X509Ptr certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!certificate)
    return openssl_error(ErrorCode::kCertificateInvalid, "DER certificate does not parse");
  const auto consumed = static_cast<std::size_t>(cursor - der.data());
  if (consumed != der.size()) {
    return make_error(ErrorCode::kCertificateInvalid,
                      "DER certificate ends at offset {} but the input has {} bytes", consumed,
                      der.size());
  }
  return certificate;
}

Result<X509Ptr> parse_certificate(std::span<const std::uint8_t> bytes) {
  if (as_chars(bytes).find(kPemBegin) != std::string_view::npos) {
    CCFDE_ASSIGN_OR_RETURN(auto certificates, parse_pem_certificates(bytes));
    if (certificates.size() != 1) {
      return make_error(ErrorCode::kCertificateInvalid, "expected one PEM certificate, found {}",
                        certificates.size());
    }
    return std::move(certificates.front());
  }
  return parse_der_certificate(bytes);
}

std::vector<std::uint8_t> certificate_der(const X509* certificate) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(certificate, &der);
  if (length <= 0) return {};
  std::vector<std::uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

std::vector<std::uint8_t> certificate_fingerprint(const X509* certificate) {
  auto fingerprint = digest(DigestAlgorithm::kSha256, certificate_der(certificate));
  return fingerprint.ok() ? std::move(fingerprint).value() : std::vector<std::uint8_t>{};
}

std::string certificate_common_name(const X509* certificate) {
  const X509_NAME* name = X509_get_subject_name(certificate);
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

Status verify_certificate_chain(const X509* leaf, std::span<const X509* const> intermediates,
                                const X509* trusted_root, TimePoint at) {
  if (leaf == nullptr || trusted_root == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "certificate chain needs a leaf and a trusted root");
  }
  X509StorePtr store(X509_STORE_new());
  X509StackPtr untrusted(sk_X509_new_null());
  X509StoreCtxPtr context(X509_STORE_CTX_new());
  if (!store || !untrusted || !context) {
    return openssl_error(ErrorCode::kCryptoError, "cannot allocate an X509 store");
  }
  // OpenSSL takes non-const pointers but only reads (up_ref keeps ownership balanced).
  auto* root = const_cast<X509*>(trusted_root);
  if (X509_STORE_add_cert(store.get(), root) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "cannot add the trusted root");
  }
  for (const X509* intermediate : intermediates) {
    auto* mutable_intermediate = const_cast<X509*>(intermediate);
    if (X509_up_ref(mutable_intermediate) != 1 ||
        sk_X509_push(untrusted.get(), mutable_intermediate) <= 0) {
      return openssl_error(ErrorCode::kCryptoError, "cannot collect intermediates");
    }
  }
  if (X509_STORE_CTX_init(context.get(), store.get(), const_cast<X509*>(leaf), untrusted.get()) !=
      1) {
    return openssl_error(ErrorCode::kCryptoError, "cannot initialise chain verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at.time_since_epoch().count()));
  // Evidence roots are never trusted: only a chain ending at `trusted_root` is accepted.
  X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(context.get()) == 1) {
    ERR_clear_error();
    return Status();
  }
  const int error = X509_STORE_CTX_get_error(context.get());
  const int depth = X509_STORE_CTX_get_error_depth(context.get());
  const std::string subject = subject_of(X509_STORE_CTX_get_current_cert(context.get()));
  const std::string reason = X509_verify_cert_error_string(error);
  ERR_clear_error();
  ErrorCode code = ErrorCode::kCertificateInvalid;
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: code = ErrorCode::kCertificateExpired; break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: code = ErrorCode::kUntrustedRoot; break;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE: code = ErrorCode::kSignatureInvalid; break;
    default: break;
  }
  return make_error(code, "certificate chain check failed at depth {} ({}) at {}: {}", depth,
                    subject, format_rfc3339(at), reason);
}

Result<EvpPkeyPtr> ec_public_key_from_xy(int curve_nid, std::span<const std::uint8_t> x,
                                         std::span<const std::uint8_t> y) {
  const char* group_name = OBJ_nid2sn(curve_nid);
  if (group_name == nullptr || x.size() != y.size() || x.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "bad EC public key parameters (curve {}, {}+{} bytes)", curve_nid, x.size(),
                      y.size());
  }
  auto key = ec_public_key(group_name, x, y);
  if (!key.ok() && key.status().code() == ErrorCode::kInvalidArgument) {
    return make_error(ErrorCode::kMalformed, "EC public key is not a point on {}", group_name);
  }
  return key;
}

Status verify_ecdsa_signature(EVP_PKEY* public_key, DigestAlgorithm algorithm,
                              std::span<const std::uint8_t> message,
                              std::span<const std::uint8_t> r, std::span<const std::uint8_t> s) {
  EcdsaSigPtr signature(ECDSA_SIG_new());
  BignumPtr r_number(BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr));
  BignumPtr s_number(BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr));
  if (!signature || !r_number || !s_number ||
      ECDSA_SIG_set0(signature.get(), r_number.get(), s_number.get()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "cannot build ECDSA signature");
  }
  (void)r_number.release();  // now owned by `signature`
  (void)s_number.release();
  unsigned char* der = nullptr;
  const int der_length = i2d_ECDSA_SIG(signature.get(), &der);
  if (der_length <= 0)
    return openssl_error(ErrorCode::kCryptoError, "cannot encode ECDSA signature");
  CHandle<unsigned char, free_openssl_buffer> der_owner(der);

  CCFDE_ASSIGN_OR_RETURN(auto message_digest, digest(algorithm, message));
  EvpPkeyCtxPtr context(EVP_PKEY_CTX_new(public_key, nullptr));
  if (!context || EVP_PKEY_verify_init(context.get()) != 1) {
    return openssl_error(ErrorCode::kCryptoError, "cannot initialise ECDSA verification");
  }
  const int verdict = EVP_PKEY_verify(context.get(), der, static_cast<std::size_t>(der_length),
                                      message_digest.data(), message_digest.size());
  ERR_clear_error();
  if (verdict != 1) return Status(ErrorCode::kSignatureInvalid, "ECDSA signature does not verify");
  return Status();
}

}  // namespace ccfde::measure
