// SPDX-License-Identifier: Apache-2.0
#include "ccfde/testing/sample_evidence.h"

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <iostream>

#include "ccfde/common/digest.h"
#include "ccfde/common/encoding.h"
#include "ccfde/testing/test_pki.h"

namespace ccfde::testing {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kEvNoAction = 0x3;
constexpr std::uint16_t kAlgSha384 = 0x000C;

void put_u16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}
void put_u32(Bytes& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}
void put_bytes(Bytes& out, std::span<const std::uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void put_zeros(Bytes& out, std::size_t count) {
  out.insert(out.end(), count, 0);
}

Bytes sha384(std::span<const std::uint8_t> data) {
  return std::move(digest(DigestAlgorithm::kSha384, data)).value();
}

// Minimal DER for the SGX extension of a PCK certificate.
Bytes der(std::uint8_t tag, const Bytes& content) {
  Bytes out{tag};
  if (content.size() < 128) {
    out.push_back(static_cast<std::uint8_t>(content.size()));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(content.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(content.size()));
  }
  put_bytes(out, content);
  return out;
}
Bytes der_oid(const std::vector<unsigned>& arcs) {
  Bytes content{static_cast<std::uint8_t>(arcs[0] * 40 + arcs[1])};
  for (std::size_t i = 2; i < arcs.size(); ++i) {
    Bytes encoded;
    unsigned value = arcs[i];
    encoded.insert(encoded.begin(), static_cast<std::uint8_t>(value & 0x7f));
    while ((value >>= 7) != 0) {
      encoded.insert(encoded.begin(), static_cast<std::uint8_t>(0x80 | (value & 0x7f)));
    }
    put_bytes(content, encoded);
  }
  return der(0x06, content);
}
Bytes der_sequence(const std::vector<Bytes>& items) {
  Bytes content;
  for (const auto& item : items) put_bytes(content, item);
  return der(0x30, content);
}
Bytes der_integer(unsigned value) {
  Bytes content{static_cast<std::uint8_t>(value & 0xff)};
  while ((value >>= 8) != 0)
    content.insert(content.begin(), static_cast<std::uint8_t>(value & 0xff));
  if (content.front() & 0x80) content.insert(content.begin(), 0);
  return der(0x02, content);
}
Bytes der_octets(const Bytes& bytes) {
  return der(0x04, bytes);
}

std::vector<unsigned> sgx_oid(std::initializer_list<unsigned> suffix) {
  std::vector<unsigned> arcs{1, 2, 840, 113741, 1, 13, 1};
  arcs.insert(arcs.end(), suffix);
  return arcs;
}

Bytes sgx_extension_der() {
  std::vector<Bytes> tcb;
  const Bytes cpu_svn{3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
  for (unsigned i = 1; i <= 16; ++i) {
    tcb.push_back(der_sequence({der_oid(sgx_oid({2, i})), der_integer(cpu_svn[i - 1])}));
  }
  tcb.push_back(der_sequence({der_oid(sgx_oid({2, 17})), der_integer(11)}));
  tcb.push_back(der_sequence({der_oid(sgx_oid({2, 18})), der_octets(cpu_svn)}));
  return der_sequence({
      der_sequence({der_oid(sgx_oid({1})), der_octets(Bytes(16, 0xab))}),
      der_sequence({der_oid(sgx_oid({2})), der_sequence(tcb)}),
      der_sequence({der_oid(sgx_oid({3})), der_octets({0, 0})}),
      der_sequence({der_oid(sgx_oid({4})), der_octets({0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00})}),
      der_sequence({der_oid(sgx_oid({5})), der(0x0a, {0})}),
  });
}

// One PEM block (label and DER body) of a PEM text.
struct PemBlock {
  std::string label;
  Bytes der;
};

void free_openssl_memory(void* memory) {
  OPENSSL_free(memory);
}
using OpenSslCharPtr = CHandle<char, free_openssl_memory>;
using OpenSslBytePtr = CHandle<unsigned char, free_openssl_memory>;

Result<std::vector<PemBlock>> pem_blocks(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_error(ErrorCode::kCryptoError, "cannot wrap the PEM text");
  std::vector<PemBlock> blocks;
  ERR_clear_error();
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    const int read = PEM_read_bio(bio.get(), &name, &header, &data, &length);
    const OpenSslCharPtr owned_name(name);
    const OpenSslCharPtr owned_header(header);
    const OpenSslBytePtr owned_data(data);
    if (read != 1) break;
    blocks.push_back({name, Bytes(data, data + length)});
  }
  // The end of the text shows as "no start line"; any other error is a damaged block.
  const unsigned long error = ERR_peek_last_error();
  if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return blocks;
  }
  return openssl_error(ErrorCode::kMalformed,
                       fmt::format("PEM block {} cannot be read", blocks.size() + 1));
}

std::chrono::sys_seconds year_start(int year) {
  return std::chrono::sys_days{std::chrono::year{year} / 1 / 1};
}

}  // namespace

std::vector<SampleRecord> sample_records(const std::vector<SampleEvent>& events) {
  std::vector<SampleRecord> records;
  records.reserve(events.size());
  for (const auto& event : events) {
    records.push_back({event.mr_index, event.type, Bytes(event.data.begin(), event.data.end()),
                       sha384(as_bytes(event.data))});
  }
  return records;
}

std::vector<std::uint8_t> build_sample_event_log(const std::vector<SampleEvent>& events,
                                                 std::size_t padding) {
  return build_sample_event_log(sample_records(events), padding);
}

std::vector<std::uint8_t> build_sample_event_log(const std::vector<SampleRecord>& records,
                                                 std::size_t padding) {
  Bytes log;
  // Spec ID Event03 header in the legacy (SHA-1 shaped) record format.
  Bytes spec_id;
  const std::string signature = "Spec ID Event03";
  put_bytes(spec_id, as_bytes(signature));
  spec_id.push_back(0);
  put_u32(spec_id, 0);   // platform class
  spec_id.push_back(0);  // spec version minor
  spec_id.push_back(2);  // spec version major
  spec_id.push_back(0);  // errata
  spec_id.push_back(2);  // uintn size (64-bit)
  put_u32(spec_id, 1);   // number of algorithms
  put_u16(spec_id, kAlgSha384);
  put_u16(spec_id, 48);
  spec_id.push_back(0);  // vendor info size
  put_u32(log, 1);
  put_u32(log, kEvNoAction);
  put_zeros(log, 20);
  put_u32(log, static_cast<std::uint32_t>(spec_id.size()));
  put_bytes(log, spec_id);

  for (const auto& record : records) {
    put_u32(log, record.mr_index);
    put_u32(log, record.type);
    put_u32(log, 1);  // digest count
    put_u16(log, kAlgSha384);
    put_bytes(log, record.sha384);
    put_u32(log, static_cast<std::uint32_t>(record.data.size()));
    put_bytes(log, record.data);
  }
  log.insert(log.end(), padding, 0xff);
  return log;
}

std::array<std::array<std::uint8_t, 48>, 4> replay_sample_events(
    const std::vector<SampleEvent>& events) {
  std::array<std::array<std::uint8_t, 48>, 4> rtmr{};
  for (const auto& event : events) {
    if (event.mr_index < 1 || event.mr_index > 4 || event.type == kEvNoAction) continue;
    auto& reg = rtmr[event.mr_index - 1];
    const Bytes extended =
        std::move(digest(DigestAlgorithm::kSha384, {reg, sha384(as_bytes(event.data))})).value();
    std::copy(extended.begin(), extended.end(), reg.begin());
  }
  return rtmr;
}

std::vector<SampleEvent> default_sample_events() {
  const std::string separator(4, '\0');
  return {
      {1, 0x0000000A, "sample firmware configuration (synthetic, cc-fde demo)"},
      {1, 0x80000007, "Calling EFI Application from Boot Option"},
      {1, 0x00000004, separator},
      {2, 0x80000007, "Exit Boot Services Invocation"},
      {2, 0x00000004, separator},
      {3, 0x0000000D, "grub_cmd: linux /boot/vmlinuz root=/dev/mapper/root ro"},
      {3, 0x0000000D, "kernel_cmdline: /boot/vmlinuz root=/dev/mapper/root ro console=ttyS0"},
  };
}

SamplePckChain build_sample_pck_chain() {
  SamplePckChain chain;
  chain.root_key = generate_ec_key(NID_X9_62_prime256v1);
  chain.platform_key = generate_ec_key(NID_X9_62_prime256v1);
  chain.pck_key = generate_ec_key(NID_X9_62_prime256v1);
  chain.root = issue_certificate({"Intel SGX Root CA", year_start(2020), year_start(2040), true},
                                 chain.root_key.get(), nullptr, nullptr);
  chain.platform =
      issue_certificate({"Intel SGX PCK Platform CA", year_start(2020), year_start(2040), true},
                        chain.platform_key.get(), chain.root_key.get(), chain.root.get());
  chain.pck =
      issue_certificate({"Intel SGX PCK Certificate",
                         year_start(2020),
                         year_start(2040),
                         false,
                         {{"1.2.840.113741.1.13.1", sgx_extension_der()}}},
                        chain.pck_key.get(), chain.platform_key.get(), chain.platform.get());
  chain.root_pem = certificate_pem(chain.root.get());
  return chain;
}

SampleQuote build_sample_tdx_quote(const SampleQuoteSpec& spec) {
  return build_sample_tdx_quote(spec, build_sample_pck_chain());
}

SampleQuote build_sample_tdx_quote(const SampleQuoteSpec& spec, const SamplePckChain& chain) {
  auto attestation_key = generate_ec_key(NID_X9_62_prime256v1);
  EVP_PKEY* const pck_key = chain.pck_key.get();
  const X509* const root = chain.root.get();
  const X509* const platform = chain.platform.get();
  const X509* const pck = chain.pck.get();

  // The raw P-256 attestation public key x || y.
  Bytes attestation_public(65);
  std::size_t public_size = attestation_public.size();
  if (EVP_PKEY_get_octet_string_param(attestation_key.get(), "pub", attestation_public.data(),
                                      attestation_public.size(), &public_size) != 1 ||
      public_size != 65) {
    std::cerr << "sample quote: cannot export the attestation key\n";
    std::abort();
  }
  attestation_public.erase(attestation_public.begin());  // drop the 0x04 prefix

  Bytes quote;
  // Header: version 4, attestation key type 2 (ECDSA P-256), TEE type 0x81 (TDX).
  put_u16(quote, 4);
  put_u16(quote, 2);
  put_u32(quote, 0x81);
  put_zeros(quote, 4);
  put_bytes(quote, Bytes{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3,
                         0x95, 0x7f, 0x06, 0x07});
  put_zeros(quote, 20);
  // TD 1.0 body.
  put_bytes(quote, spec.tee_tcb_svn);
  put_bytes(quote, Bytes(48, 0x11));  // MRSEAM
  put_zeros(quote, 48 + 8);           // MRSIGNERSEAM, SEAMATTRIBUTES
  for (int shift = 0; shift < 64; shift += 8) {
    quote.push_back(static_cast<std::uint8_t>(spec.td_attributes >> shift));
  }
  put_bytes(quote, Bytes{0xe7, 0x1a, 0x06, 0, 0, 0, 0, 0});  // XFAM
  if (spec.mr_td) {
    put_bytes(quote, *spec.mr_td);
  } else {
    put_bytes(quote, Bytes(48, 0x22));
  }
  if (spec.mr_config_id) {
    put_bytes(quote, *spec.mr_config_id);
  } else {
    put_zeros(quote, 48);
  }
  put_zeros(quote, 2 * 48);  // MROWNER, MROWNERCONFIG
  for (const auto& rtmr : spec.rtmr) put_bytes(quote, rtmr);
  put_bytes(quote, spec.report_data);
  const Bytes signed_region(quote.begin(), quote.end());

  const Bytes auth_data(32, 0x5a);
  Bytes qe_report;
  put_bytes(qe_report, Bytes(16, 0x01));  // CPUSVN
  put_u32(qe_report, 0);                  // MISCSELECT
  put_zeros(qe_report, 28);
  put_bytes(qe_report, Bytes{0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7, 0, 0, 0, 0, 0, 0, 0});
  put_bytes(qe_report, Bytes(32, 0x33));  // MRENCLAVE
  put_zeros(qe_report, 32);
  put_bytes(qe_report, Bytes(32, 0x44));  // MRSIGNER
  put_zeros(qe_report, 96);
  put_u16(qe_report, 2);  // ISVPRODID
  put_u16(qe_report, 4);  // ISVSVN
  put_zeros(qe_report, 60);
  put_bytes(qe_report,
            std::move(digest(DigestAlgorithm::kSha256, {attestation_public, auth_data})).value());
  put_zeros(qe_report, 32);

  const std::string chain_pem =
      certificate_pem(pck) + certificate_pem(platform) + certificate_pem(root);
  Bytes certification;
  put_bytes(certification, qe_report);
  put_bytes(certification, sign_ecdsa_raw(pck_key, qe_report, 32, EVP_sha256()));
  put_u16(certification, static_cast<std::uint16_t>(auth_data.size()));
  put_bytes(certification, auth_data);
  put_u16(certification, 5);
  put_u32(certification, static_cast<std::uint32_t>(chain_pem.size() + 1));
  put_bytes(certification, as_bytes(chain_pem));
  certification.push_back(0);  // PCK chains in quotes end with a NUL

  Bytes signature_data;
  put_bytes(signature_data, sign_ecdsa_raw(attestation_key.get(), signed_region, 32, EVP_sha256()));
  put_bytes(signature_data, attestation_public);
  put_u16(signature_data, 6);
  put_u32(signature_data, static_cast<std::uint32_t>(certification.size()));
  put_bytes(signature_data, certification);

  put_u32(quote, static_cast<std::uint32_t>(signature_data.size()));
  put_bytes(quote, signature_data);
  return {std::move(quote), chain.root_pem};
}

std::string pck_chain_to_pem(const SamplePckChain& chain) {
  std::string pem;
  for (const auto& [key, certificate] : {std::pair{chain.root_key.get(), chain.root.get()},
                                         std::pair{chain.platform_key.get(), chain.platform.get()},
                                         std::pair{chain.pck_key.get(), chain.pck.get()}}) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      std::cerr << "sample chain: cannot write a private key: " << drain_openssl_errors() << "\n";
      std::abort();
    }
    char* text = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &text);
    pem.append(text, static_cast<std::size_t>(size));
    pem += certificate_pem(certificate);
  }
  return pem;
}

Result<SamplePckChain> pck_chain_from_pem(std::string_view pem) {
  CCFDE_ASSIGN_OR_RETURN(const auto blocks, pem_blocks(pem));
  constexpr const char* kRoles[] = {"root", "platform CA", "PCK leaf"};
  if (blocks.size() != 6) {
    return make_error(ErrorCode::kMalformed,
                      "a sample PCK chain has 6 PEM blocks (key and certificate of the root, the "
                      "platform CA and the PCK leaf), found {}",
                      blocks.size());
  }
  EvpPkeyPtr keys[3];
  X509Ptr certificates[3];
  for (std::size_t i = 0; i < 3; ++i) {
    const PemBlock& key_block = blocks[2 * i];
    const PemBlock& certificate_block = blocks[2 * i + 1];
    if (key_block.label != "PRIVATE KEY" || certificate_block.label != "CERTIFICATE") {
      return make_error(ErrorCode::kMalformed,
                        "sample PCK chain, {}: expected PRIVATE KEY then CERTIFICATE, found {} "
                        "then {}",
                        kRoles[i], key_block.label, certificate_block.label);
    }
    const unsigned char* key_der = key_block.der.data();
    keys[i].reset(d2i_AutoPrivateKey(nullptr, &key_der, static_cast<long>(key_block.der.size())));
    const unsigned char* certificate_der = certificate_block.der.data();
    certificates[i].reset(
        d2i_X509(nullptr, &certificate_der, static_cast<long>(certificate_block.der.size())));
    if (!keys[i] || !certificates[i]) {
      return openssl_error(
          ErrorCode::kMalformed,
          fmt::format("sample PCK chain, {}: undecodable key or certificate", kRoles[i]));
    }
    if (X509_check_private_key(certificates[i].get(), keys[i].get()) != 1) {
      ERR_clear_error();
      return make_error(ErrorCode::kMalformed,
                        "sample PCK chain, {}: the certificate does not carry the key before it",
                        kRoles[i]);
    }
    EVP_PKEY* const issuer_key = keys[i == 0 ? 0 : i - 1].get();
    if (X509_verify(certificates[i].get(), issuer_key) != 1) {
      ERR_clear_error();
      return make_error(ErrorCode::kMalformed,
                        "sample PCK chain, {}: the certificate is not signed by the {}", kRoles[i],
                        kRoles[i == 0 ? 0 : i - 1]);
    }
  }
  SamplePckChain chain;
  chain.root_key = std::move(keys[0]);
  chain.platform_key = std::move(keys[1]);
  chain.pck_key = std::move(keys[2]);
  chain.root = std::move(certificates[0]);
  chain.platform = std::move(certificates[1]);
  chain.pck = std::move(certificates[2]);
  chain.root_pem = certificate_pem(chain.root.get());
  return chain;
}

}  // namespace ccfde::testing
