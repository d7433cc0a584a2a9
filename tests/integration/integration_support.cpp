// SPDX-License-Identifier: Apache-2.0
#include "integration_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>

#include "ccfde/common/encoding.h"
#include "ccfde/common/openssl_handles.h"
#include "ccfde/common/unique_fd.h"
#include "ccfde/testing/test_pki.h"

namespace ccfde::integration {
namespace {

// "https://127.0.0.1:1234/kbs/v0/auth" -> "/kbs/v0/auth".
std::string url_path(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const std::size_t slash = url.find('/', start);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

}  // namespace

Result<kbs_client::HttpResponse> CountingTransport::send(const kbs_client::HttpRequest& request) {
  {
    std::lock_guard lock(mutex_);
    ++counts_[request.method + " " + url_path(request.url)];
  }
  return inner_.send(request);
}

int CountingTransport::count(const std::string& method_and_path) const {
  std::lock_guard lock(mutex_);
  const auto found = counts_.find(method_and_path);
  return found == counts_.end() ? 0 : found->second;
}

int CountingTransport::count_prefix(const std::string& prefix) const {
  std::lock_guard lock(mutex_);
  int sum = 0;
  for (const auto& [key, value] : counts_) {
    const std::size_t space = key.find(' ');
    if (key.compare(space + 1, prefix.size(), prefix) == 0) sum += value;
  }
  return sum;
}

int CountingTransport::total() const {
  std::lock_guard lock(mutex_);
  int sum = 0;
  for (const auto& entry : counts_) sum += entry.second;
  return sum;
}

SampleTdxProvider::SampleTdxProvider(const testing::SamplePckChain& chain, Options options)
    : chain_(chain), options_(options), events_(testing::default_sample_events()) {}

Result<nlohmann::json> SampleTdxProvider::primary_evidence(std::span<const std::uint8_t> digest) {
  ++calls_;
  if (digest.size() > 64) {
    return make_error(ErrorCode::kInvalidArgument, "digest of {} bytes", digest.size());
  }
  testing::SampleQuoteSpec spec;
  spec.rtmr = testing::replay_sample_events(events_);
  if (options_.corrupt_rtmr) spec.rtmr.at(*options_.corrupt_rtmr)[0] ^= 0x01;
  std::copy(digest.begin(), digest.end(), spec.report_data.begin());
  spec.td_attributes = options_.td_attributes;
  const testing::SampleQuote quote = testing::build_sample_tdx_quote(spec, chain_);
  if (!options_.send_event_log) return kbs_client::build_tdx_evidence(quote.quote, std::nullopt);
  const std::vector<std::uint8_t> ccel = testing::build_sample_event_log(events_, 256);
  return kbs_client::build_tdx_evidence(quote.quote, std::span<const std::uint8_t>(ccel));
}

std::string spki_pin(const std::filesystem::path& certificate) {
  const std::string pem = read_text(certificate);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_TRUE(x509) << "no certificate in " << certificate;
  if (!x509) return "";
  unsigned char* der = nullptr;
  const int der_size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509.get()), &der);
  EXPECT_GT(der_size, 0);
  if (der_size <= 0) return "";
  std::array<std::uint8_t, 32> hash{};
  unsigned int hash_size = 0;
  const bool hashed = EVP_Digest(der, static_cast<std::size_t>(der_size), hash.data(), &hash_size,
                                 EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  EXPECT_TRUE(hashed);
  return "sha256//" + base64_encode(hash);
}

std::pair<std::filesystem::path, std::filesystem::path> issue_server_certificate(
    const std::filesystem::path& ca_certificate, const std::filesystem::path& ca_key,
    const std::string& dns_name, const std::filesystem::path& dir, const std::string& stem) {
  const std::string ca_pem = read_text(ca_certificate);
  const std::string key_pem = read_text(ca_key);
  BioPtr ca_bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  X509Ptr ca(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  EvpPkeyPtr issuer_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  EXPECT_TRUE(ca && issuer_key) << ca_certificate << " / " << ca_key;
  if (!ca || !issuer_key) return {};

  // SubjectAltName ::= SEQUENCE OF GeneralName; dNSName is [2] IA5String (short form lengths).
  std::vector<std::uint8_t> name_der = {0x82, static_cast<std::uint8_t>(dns_name.size())};
  name_der.insert(name_der.end(), dns_name.begin(), dns_name.end());
  std::vector<std::uint8_t> san = {0x30, static_cast<std::uint8_t>(name_der.size())};
  san.insert(san.end(), name_der.begin(), name_der.end());

  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  EvpPkeyPtr key = testing::generate_ec_key();
  const testing::CertificateSpec spec{dns_name,
                                      now - std::chrono::hours(1),
                                      now + std::chrono::hours(24),
                                      false,
                                      {{"2.5.29.17", san}}};
  X509Ptr certificate = testing::issue_certificate(spec, key.get(), issuer_key.get(), ca.get());

  BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  const std::filesystem::path certificate_path = dir / (stem + ".pem");
  const std::filesystem::path key_path = dir / (stem + "-key.pem");
  write_text(certificate_path, testing::certificate_pem(certificate.get()));
  write_text(key_path, std::string(data, static_cast<std::size_t>(size)));
  return {certificate_path, key_path};
}

int reserve_free_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  return ntohs(address.sin_port);
}

void expect_no_secret(const std::string& message, std::span<const std::uint8_t> secret) {
  ASSERT_FALSE(secret.empty());
  const std::string forms[] = {
      std::string(as_chars(secret)), hex_encode(secret),
      upper(hex_encode(secret)),     base64_encode(secret),
      base64url_encode(secret),      escape_nonprintable(as_chars(secret))};
  for (const std::string& form : forms) {
    EXPECT_EQ(message.find(form), std::string::npos)
        << "the message leaks the resource (" << form << "): " << message;
  }
}

}  // namespace ccfde::integration
