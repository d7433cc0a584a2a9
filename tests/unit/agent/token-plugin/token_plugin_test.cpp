// SPDX-License-Identifier: Apache-2.0
// libcryptsetup-token-cc-fde.so loaded the way libcryptsetup loads it: exported symbols, version,
// validate (strict), dump, and open's refusals that need no broker.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <libcryptsetup.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ccfde/testing/testdata.h"

namespace {

constexpr const char* kSymbolVersion = "CRYPTSETUP_TOKEN_1.0";

using OpenFn = int (*)(crypt_device*, int, char**, size_t*, void*);
using OpenPinFn = int (*)(crypt_device*, int, const char*, size_t, char**, size_t*, void*);
using FreeFn = void (*)(void*, size_t);
using ValidateFn = int (*)(crypt_device*, const char*);
using DumpFn = void (*)(crypt_device*, const char*);
using VersionFn = const char* (*)();

std::vector<std::pair<int, std::string>>* g_log = nullptr;

void capture_log(int level, const char* message, void* /*usrptr*/) {
  if (g_log != nullptr) g_log->emplace_back(level, message);
}

class TokenPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = dlopen(CCFDE_TOKEN_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
    open_ = symbol<OpenFn>("cryptsetup_token_open");
    open_pin_ = symbol<OpenPinFn>("cryptsetup_token_open_pin");
    free_ = symbol<FreeFn>("cryptsetup_token_buffer_free");
    validate_ = symbol<ValidateFn>("cryptsetup_token_validate");
    dump_ = symbol<DumpFn>("cryptsetup_token_dump");
    version_ = symbol<VersionFn>("cryptsetup_token_version");
    g_log = &log_;
    crypt_set_log_callback(nullptr, capture_log, nullptr);
  }
  void TearDown() override {
    crypt_set_log_callback(nullptr, nullptr, nullptr);
    g_log = nullptr;
    if (handle_ != nullptr) dlclose(handle_);
  }

  template <typename Fn>
  Fn symbol(const char* name) {
    void* address = dlvsym(handle_, name, kSymbolVersion);
    EXPECT_NE(address, nullptr) << name << "@" << kSymbolVersion << " is not exported";
    return reinterpret_cast<Fn>(address);
  }

  std::string log_text(int level) const {
    std::string text;
    for (const auto& [l, message] : log_) {
      if (l == level) text += message;
    }
    return text;
  }

  void* handle_ = nullptr;
  OpenFn open_ = nullptr;
  OpenPinFn open_pin_ = nullptr;
  FreeFn free_ = nullptr;
  ValidateFn validate_ = nullptr;
  DumpFn dump_ = nullptr;
  VersionFn version_ = nullptr;
  std::vector<std::pair<int, std::string>> log_;
};

constexpr const char* kGoodToken =
    R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"default",)"
    R"("resource":"default/fde/root"})";

TEST_F(TokenPlugin, ExportsExactlyTheSixTokenSymbols) {
  const std::string command = std::string("nm -D --defined-only ") + CCFDE_TOKEN_PLUGIN_PATH;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  ASSERT_NE(pipe, nullptr);
  std::set<std::string> symbols;
  char line[512];
  while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
    std::istringstream fields(line);
    std::string address, type, name;
    fields >> address >> type >> name;
    if (type == "A") continue;  // the version definition itself (CRYPTSETUP_TOKEN_1.0)
    symbols.insert(name.substr(0, name.find('@')));
  }
  EXPECT_EQ(symbols,
            (std::set<std::string>{"cryptsetup_token_buffer_free", "cryptsetup_token_dump",
                                   "cryptsetup_token_open", "cryptsetup_token_open_pin",
                                   "cryptsetup_token_validate", "cryptsetup_token_version"}));
}

TEST_F(TokenPlugin, VersionNamesTheProjectVersion) {
  ASSERT_NE(version_, nullptr);
  EXPECT_STREQ(version_(), "cc-fde " CCFDE_VERSION);
}

TEST_F(TokenPlugin, ValidateAcceptsAGoodToken) {
  ASSERT_NE(validate_, nullptr);
  EXPECT_EQ(validate_(nullptr, kGoodToken), 0) << log_text(CRYPT_LOG_ERROR);
  EXPECT_EQ(validate_(nullptr, R"({"type":"cc-fde","keyslots":["1","3"],"cc-fde-version":1,)"
                               R"("profile":"p-2","resource":"r/t/x","state":"rotating",)"
                               R"("pending-keyslot":"3"})"),
            0)
      << log_text(CRYPT_LOG_ERROR);
  EXPECT_EQ(log_text(CRYPT_LOG_ERROR), "");
}

TEST_F(TokenPlugin, ValidateRejectsBadTokensNamingTheProblem) {
  ASSERT_NE(validate_, nullptr);
  const std::pair<const char*, const char*> cases[] = {
      {"not json", "invalid token"},
      {R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"resource":"a/b/c"})", "profile"},
      {R"({"type":"cc-fde","keyslots":["01"],"cc-fde-version":1,"profile":"default",)"
       R"("resource":"a/b/c"})",
       "keyslots"},
      {R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":2,"profile":"default",)"
       R"("resource":"a/b/c"})",
       "cc-fde-version"},
      {R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"default",)"
       R"("resource":"a/b/c","url":"https://evil.example"})",
       "url"},
      {R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"de fault",)"
       R"("resource":"a/b/c"})",
       "profile"},
      {R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":1,"profile":"default",)"
       R"("resource":"a b"})",
       "resource"},
      {R"({"type":"clevis","keyslots":["1"],"cc-fde-version":1,"profile":"default",)"
       R"("resource":"a/b/c"})",
       "type"},
  };
  for (const auto& [json, member] : cases) {
    log_.clear();
    EXPECT_NE(validate_(nullptr, json), 0) << json;
    const std::string errors = log_text(CRYPT_LOG_ERROR);
    EXPECT_NE(errors.find("cc-fde: invalid token"), std::string::npos) << errors;
    EXPECT_NE(errors.find(member), std::string::npos) << json << " -> " << errors;
    EXPECT_EQ(errors.back(), '\n');
  }
  EXPECT_NE(validate_(nullptr, nullptr), 0);
}

TEST_F(TokenPlugin, DumpPrintsEveryField) {
  ASSERT_NE(dump_, nullptr);
  dump_(nullptr, kGoodToken);
  const std::string dump = log_text(CRYPT_LOG_NORMAL);
  EXPECT_NE(dump.find("\tcc-fde version: 1\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("\tprofile:        default\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("\tresource:       default/fde/root\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("\tstate:          complete\n"), std::string::npos) << dump;
  log_.clear();
  dump_(nullptr, R"({"type":"cc-fde","evil":"\u001b[2J"})");
  const std::string bad = log_text(CRYPT_LOG_NORMAL);
  EXPECT_NE(bad.find("invalid cc-fde token"), std::string::npos) << bad;
  EXPECT_EQ(bad.find('\x1b'), std::string::npos) << "terminal control characters are escaped";
}

TEST_F(TokenPlugin, BufferFreeAcceptsNull) {
  ASSERT_NE(free_, nullptr);
  free_(nullptr, 0);
  void* buffer = std::malloc(32);
  ASSERT_NE(buffer, nullptr);
  free_(buffer, 32);
}

// A LUKS2 image with one keyslot and token `json` (libcryptsetup stores tokens of types it has no
// plugin for without asking anyone).
class TokenPluginOnImage : public TokenPlugin {
 protected:
  void make_image(const std::string& json) {
    image_ = dir_.path() / "luks.img";
    { std::ofstream(image_).flush(); }
    std::filesystem::resize_file(image_, 16u << 20);
    ASSERT_EQ(crypt_init(&cd_, image_.c_str()), 0);
    crypt_pbkdf_type pbkdf{};
    pbkdf.type = CRYPT_KDF_PBKDF2;
    pbkdf.hash = "sha256";
    pbkdf.iterations = 1000;
    pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
    ASSERT_EQ(crypt_set_pbkdf_type(cd_, &pbkdf), 0);
    crypt_params_luks2 params{};
    ASSERT_EQ(crypt_format(cd_, CRYPT_LUKS2, "aes", "xts-plain64", nullptr, nullptr, 64, &params),
              0);
    ASSERT_EQ(crypt_keyslot_add_by_volume_key(cd_, 1, nullptr, 0, "pass", 4), 1);
    token_ = crypt_token_json_set(cd_, CRYPT_ANY_TOKEN, json.c_str());
    ASSERT_GE(token_, 0) << log_text(CRYPT_LOG_ERROR);
  }
  void TearDown() override {
    if (cd_ != nullptr) crypt_free(cd_);
    TokenPlugin::TearDown();
  }
  ccfde::testing::TempDir dir_;
  std::filesystem::path image_;
  crypt_device* cd_ = nullptr;
  int token_ = -1;
};

TEST_F(TokenPluginOnImage, OpenRefusesAnInvalidTokenWithEinval) {
  ASSERT_NO_FATAL_FAILURE(
      make_image(R"({"type":"cc-fde","keyslots":["1"],"cc-fde-version":9,"profile":"default",)"
                 R"("resource":"a/b/c"})"));
  char* buffer = nullptr;
  size_t size = 0;
  log_.clear();
  EXPECT_EQ(open_(cd_, token_, &buffer, &size, nullptr), -EINVAL);
  EXPECT_EQ(buffer, nullptr);
  const std::string errors = log_text(CRYPT_LOG_ERROR);
  EXPECT_NE(errors.find("cc-fde: token " + std::to_string(token_)), std::string::npos) << errors;
  EXPECT_NE(errors.find("cc-fde-version"), std::string::npos) << errors;
}

TEST_F(TokenPluginOnImage, OpenWithoutAConfigurationRefusesWithEinval) {
  if (std::filesystem::exists("/etc/cc-fde/config.json")) {
    GTEST_SKIP() << "this host has /etc/cc-fde/config.json";
  }
  ASSERT_NO_FATAL_FAILURE(make_image(kGoodToken));
  char* buffer = nullptr;
  size_t size = 0;
  EXPECT_EQ(open_pin_(cd_, token_, "ignored", 7, &buffer, &size, nullptr), -EINVAL);
  EXPECT_EQ(buffer, nullptr);
  const std::string errors = log_text(CRYPT_LOG_ERROR);
  EXPECT_NE(errors.find("cc-fde: configuration: "), std::string::npos) << errors;
  EXPECT_NE(errors.find("/etc/cc-fde/config.json"), std::string::npos) << errors;
}

}  // namespace
