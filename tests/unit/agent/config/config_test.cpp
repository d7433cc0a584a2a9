// SPDX-License-Identifier: Apache-2.0
// parse_config / load_config: a full example round trip, defaults, and one negative case per rule
// with the error code, the line of the offending key and its JSON pointer.
#include "ccfde/agent/config.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "ccfde/testing/testdata.h"

namespace ccfde::agent {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

// Line numbers below refer to this text (line 1 is the opening brace).
constexpr const char* kExample = R"({
  "version": 1,
  "profiles": {
    "default": {
      "protocol": "trustee",
      "url": "https://kbs.example.com:8080",
      "ca_file": "/etc/cc-fde/kbs-ca.pem", "resources": ["default/*"],
      "pins": ["sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="],
      "client_certificate": "/etc/cc-fde/client.pem",
      "client_key": "/etc/cc-fde/client-key.pem",
      "proxy": "http://proxy.internal:3128",
      "connect_timeout_s": 5,
      "request_timeout_s": 20,
      "admin_token_file": "/root/kbs-admin-token"
    },
    "ita-eu": {
      "protocol": "ita",
      "url": "https://[fd00::1]:9443/",
      "ca_file": "/etc/cc-fde/ita-ca.pem", "resources": ["default/*"]
    }
  },
  "evidence": {
    "tee": "tdx",
    "send_event_log": false,
    "platform_root": "/srv/guest-copy", "init_data": "/run/cc-fde-init-data.toml"
  },
  "unlock": {
    "volume_timeout_s": 60,
    "overall_timeout_s": 240,
    "failure_action": "prompt",
    "measure_unlock": false,
    "max_parallel_fetches": 8,
    "allowed_uuids": ["0F2C8E4A-1B2C-4D3E-8F90-A1B2C3D4E5F6"],
    "crypttab": "/etc/crypttab.cc-fde"
  }
})";

std::string with(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(Config, AProfileMayListSeveralUrlsInOrder) {
  auto config = parse_config(
      with(
          kExample, R"("https://kbs.example.com:8080")",
          R"(["https://kbs-b.example.com:8080/", "https://kbs-a.example.com", "https://[fd00::2]:9"])"),
      "x.json");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->profiles.at("default").urls,
            (std::vector<std::string>{"https://kbs-b.example.com:8080", "https://kbs-a.example.com",
                                      "https://[fd00::2]:9"}));
}

TEST(Config, ExampleRoundTripsEveryField) {
  auto config = parse_config(kExample, "example.json");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->origin, "example.json");
  ASSERT_EQ(config->profiles.size(), 2u);

  const BrokerProfile& d = config->profiles.at("default");
  EXPECT_EQ(d.name, "default");
  EXPECT_EQ(d.protocol, BrokerProtocol::kTrustee);
  EXPECT_EQ(d.urls, std::vector<std::string>{"https://kbs.example.com:8080"});
  EXPECT_EQ(d.ca_file, "/etc/cc-fde/kbs-ca.pem");
  EXPECT_EQ(d.pins,
            std::vector<std::string>{"sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="});
  EXPECT_EQ(d.client_certificate, "/etc/cc-fde/client.pem");
  EXPECT_EQ(d.client_key, "/etc/cc-fde/client-key.pem");
  EXPECT_EQ(d.proxy, "http://proxy.internal:3128");
  EXPECT_EQ(d.connect_timeout, seconds(5));
  EXPECT_EQ(d.request_timeout, seconds(20));
  EXPECT_EQ(d.admin_token_file, "/root/kbs-admin-token");

  const BrokerProfile& ita = config->profiles.at("ita-eu");
  EXPECT_EQ(ita.protocol, BrokerProtocol::kIta);
  EXPECT_EQ(ita.urls,
            std::vector<std::string>{"https://[fd00::1]:9443"});  // the trailing '/' is dropped
  EXPECT_TRUE(ita.pins.empty());
  EXPECT_TRUE(ita.proxy.empty());
  EXPECT_EQ(ita.connect_timeout, seconds(5));
  EXPECT_EQ(ita.request_timeout, seconds(30));

  EXPECT_EQ(config->evidence.tee, measure::TeeKind::kTdx);
  EXPECT_FALSE(config->evidence.send_event_log);
  EXPECT_EQ(config->evidence.platform_root, "/srv/guest-copy");
  EXPECT_EQ(config->evidence.init_data, "/run/cc-fde-init-data.toml");

  EXPECT_EQ(config->unlock.volume_timeout, seconds(60));
  EXPECT_EQ(config->unlock.overall_timeout, seconds(240));
  EXPECT_EQ(config->unlock.failure_action, FailureAction::kPrompt);
  EXPECT_FALSE(config->unlock.measure_unlock);
  EXPECT_EQ(config->unlock.max_parallel_fetches, 8u);
  EXPECT_EQ(config->unlock.allowed_uuids,
            std::vector<std::string>{"0f2c8e4a-1b2c-4d3e-8f90-a1b2c3d4e5f6"});
  EXPECT_EQ(config->unlock.crypttab, "/etc/crypttab.cc-fde");

  auto found = config->profile("ita-eu");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->urls, std::vector<std::string>{"https://[fd00::1]:9443"});
}

TEST(Config, MinimalFileGetsTheDocumentedDefaults) {
  auto config = parse_config(
      R"({"version":1,"profiles":{"default":{"url":"https://10.0.0.5","ca_file":"/ca.pem","resources":["default/*"]}}})",
      "min");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  const BrokerProfile& p = config->profiles.at("default");
  EXPECT_EQ(p.protocol, BrokerProtocol::kTrustee);
  EXPECT_EQ(p.connect_timeout, seconds(5));
  EXPECT_EQ(p.request_timeout, seconds(30));
  EXPECT_FALSE(config->evidence.tee.has_value());  // auto
  EXPECT_TRUE(config->evidence.send_event_log);
  EXPECT_TRUE(config->evidence.platform_root.empty());
  EXPECT_TRUE(config->evidence.init_data.empty());
  EXPECT_EQ(config->unlock.volume_timeout, seconds(120));
  EXPECT_EQ(config->unlock.overall_timeout, seconds(300));
  EXPECT_EQ(config->unlock.failure_action, FailureAction::kFail);
  EXPECT_TRUE(config->unlock.measure_unlock);
  EXPECT_EQ(config->unlock.max_parallel_fetches, 4u);
  EXPECT_TRUE(config->unlock.allowed_uuids.empty());
  EXPECT_EQ(config->unlock.crypttab, "/etc/crypttab");
}

TEST(Config, InitDataMayComeFromAnSmbiosCredential) {
  const std::string text = with(kExample, R"("init_data": "/run/cc-fde-init-data.toml")",
                                R"("init_data_smbios": "cc-fde.init-data")");
  auto config = parse_config(text, "x.json");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->evidence.init_data_smbios, "cc-fde.init-data");
  EXPECT_TRUE(config->evidence.init_data.empty());
}

TEST(Config, EveryTeeSelectionNameRoundTrips) {
  for (std::string_view name : {"auto", "tdx", "snp", "sample"}) {
    const auto selection = parse_tee_selection(name);
    ASSERT_TRUE(selection.has_value()) << name;
    EXPECT_EQ(tee_selection_name(*selection), name);
    auto config = parse_config(
        fmt::format(
            R"({{"version":1,"profiles":{{"default":{{"url":"https://10.0.0.5",)"
            R"("ca_file":"/ca.pem","resources":["default/*"]}}}},"evidence":{{"tee":"{}"}}}})",
            name),
        "tee");
    ASSERT_TRUE(config.ok()) << config.status().to_string();
    EXPECT_EQ(config->evidence.tee, *selection) << name;
  }
  EXPECT_EQ(parse_tee_selection("auto"), std::optional<TeeSelection>(TeeSelection()));
  EXPECT_EQ(parse_tee_selection("tdx"), std::optional<TeeSelection>(measure::TeeKind::kTdx));
  EXPECT_EQ(parse_tee_selection("snp"), std::optional<TeeSelection>(measure::TeeKind::kSnp));
  EXPECT_EQ(parse_tee_selection("sample"), std::optional<TeeSelection>(measure::TeeKind::kSample));
}

TEST(Config, UnknownTeeSelectionNamesAreRejected) {
  for (std::string_view name :
       {"", "none", "sgx", "AUTO", "Tdx", "SNP", "Sample", " auto", "snp "}) {
    EXPECT_FALSE(parse_tee_selection(name).has_value()) << '"' << name << '"';
  }
  EXPECT_EQ(tee_selection_name(measure::TeeKind::kNone), "none");
}

TEST(Config, UnknownProfileListsTheConfiguredOnes) {
  auto config = parse_config(kExample, "example.json");
  ASSERT_TRUE(config.ok());
  auto missing = config->profile("backup");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kUnknownProfile);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"backup\""));
  EXPECT_THAT(missing.status().message(), HasSubstr("configured: default, ita-eu"));
  EXPECT_THAT(missing.status().message(), HasSubstr("example.json"));
}

struct BadCase {
  const char* name;
  std::string text;
  std::string expected_prefix;  // "<origin>:<line>: <pointer>: "
  std::string what;             // part of the explanation
};

std::vector<BadCase> bad_cases() {
  const std::string e = kExample;
  return {
      {"unknown_top_level_key", with(e, R"("evidence": {)", R"("evidense": {)"),
       "x.json:22: /evidense: ",
       "unknown key (allowed: version, profiles, evidence, unlock, kernel_command_line)"},
      {"typo_in_profile_key", with(e, R"("request_timeout_s")", R"("request_timeout")"),
       "x.json:13: /profiles/default/request_timeout: ", "unknown key"},
      {"typo_in_unlock_key", with(e, R"("measure_unlock")", R"("measure_unlocks")"),
       "x.json:31: /unlock/measure_unlocks: ", "unknown key"},
      {"wrong_version", with(e, R"("version": 1)", R"("version": 2)"),
       "x.json:2: /version: ", "unsupported version 2"},
      {"version_as_string", with(e, R"("version": 1)", R"("version": "1")"),
       "x.json:2: /version: ", "expected an integer, found string"},
      {"no_profiles", R"({"version": 1, "profiles": {}})",
       "x.json:1: /profiles: ", "at least one broker profile"},
      {"missing_profiles", R"({"version": 1})",
       "x.json:1: (document): ", "missing required key \"profiles\""},
      {"bad_profile_name", with(e, R"("ita-eu": {)", R"("ita eu": {)"),
       "x.json:16: /profiles/ita eu: ", "profile names are made of"},
      {"http_url", with(e, "https://kbs.example.com:8080", "http://kbs.example.com:8080"),
       "x.json:6: /profiles/default/url: ", "not an https:// URL"},
      {"url_with_path", with(e, "https://kbs.example.com:8080", "https://kbs.example.com:8080/kbs"),
       "x.json:6: /profiles/default/url: ", "a URL with a path is not allowed"},
      {"url_with_query", with(e, "https://kbs.example.com:8080", "https://kbs.example.com?a=b"),
       "x.json:6: /profiles/default/url: ", "query"},
      {"url_with_userinfo", with(e, "https://kbs.example.com:8080", "https://u:p@kbs.example.com"),
       "x.json:6: /profiles/default/url: ", "user info"},
      {"url_bad_port", with(e, "https://kbs.example.com:8080", "https://kbs.example.com:99999"),
       "x.json:6: /profiles/default/url: ", "port"},
      {"second_url_http",
       with(e, R"("https://kbs.example.com:8080")",
            R"(["https://kbs.example.com:8080", "http://backup.example.com"])"),
       "x.json:6: /profiles/default/url/1: ", "\"http://backup.example.com\": not an https:// URL"},
      {"second_url_with_path",
       with(e, R"("https://kbs.example.com:8080")",
            R"(["https://kbs.example.com:8080", "https://b.example.com/kbs"])"),
       "x.json:6: /profiles/default/url/1: ", "\"https://b.example.com/kbs\": a URL with a path"},
      {"url_listed_twice",
       with(e, R"("https://kbs.example.com:8080")",
            R"(["https://kbs.example.com:8080", "https://kbs.example.com:8080/"])"),
       "x.json:6: /profiles/default/url/1: ", "listed twice"},
      {"url_list_empty", with(e, R"("https://kbs.example.com:8080")", "[]"),
       "x.json:6: /profiles/default/url: ", "a list of 1 to 8 URLs expected, found 0"},
      {"url_list_too_long",
       with(e, R"("https://kbs.example.com:8080")",
            R"(["https://a1", "https://a2", "https://a3", "https://a4", "https://a5",
                "https://a6", "https://a7", "https://a8", "https://a9"])"),
       "x.json:6: /profiles/default/url: ", "a list of 1 to 8 URLs expected, found 9"},
      {"url_list_not_strings",
       with(e, R"("https://kbs.example.com:8080")", R"(["https://kbs.example.com:8080", 7])"),
       "x.json:6: /profiles/default/url/1: ", "expected a string, found number"},
      {"url_number", with(e, R"("https://kbs.example.com:8080")", "8080"),
       "x.json:6: /profiles/default/url: ",
       "expected a URL string or a list of URL strings, found number"},
      {"missing_ca_file",
       with(e, R"("ca_file": "/etc/cc-fde/ita-ca.pem", "resources": ["default/*"])",
            R"("pins": [])"),
       "x.json:16: /profiles/ita-eu: ", "missing required key \"ca_file\""},
      {"relative_ca_file", with(e, "/etc/cc-fde/kbs-ca.pem", "kbs-ca.pem"),
       "x.json:7: /profiles/default/ca_file: ", "not an absolute path"},
      {"bad_pin", with(e, "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha256//abcd"),
       "x.json:8: /profiles/default/pins/0: ", "32-byte SHA-256 digest"},
      {"key_without_certificate", with(e, R"("client_certificate": "/etc/cc-fde/client.pem",)", ""),
       "x.json:10: /profiles/default/client_key: ", "give both or neither"},
      {"bad_proxy", with(e, "http://proxy.internal:3128", "ftp://proxy.internal"),
       "x.json:11: /profiles/default/proxy: ", "proxy scheme"},
      {"timeout_zero", with(e, R"("connect_timeout_s": 5)", R"("connect_timeout_s": 0)"),
       "x.json:12: /profiles/default/connect_timeout_s: ", "out of range (1 to 3600)"},
      {"timeout_too_long", with(e, R"("overall_timeout_s": 240)", R"("overall_timeout_s": 3601)"),
       "x.json:29: /unlock/overall_timeout_s: ", "out of range"},
      {"timeout_fraction", with(e, R"("request_timeout_s": 20)", R"("request_timeout_s": 2.5)"),
       "x.json:13: /profiles/default/request_timeout_s: ", "expected an integer, found number"},
      {"volume_longer_than_overall",
       with(e, R"("volume_timeout_s": 60)", R"("volume_timeout_s": 300)"),
       "x.json:28: /unlock/volume_timeout_s: ", "longer than overall_timeout_s (240)"},
      {"unknown_protocol", with(e, R"("protocol": "ita")", R"("protocol": "azure")"),
       "x.json:17: /profiles/ita-eu/protocol: ", "unknown protocol \"azure\""},
      {"unknown_tee", with(e, R"("tee": "tdx")", R"("tee": "sgx")"),
       "x.json:23: /evidence/tee: ", "unknown TEE \"sgx\""},
      {"tee_none", with(e, R"("tee": "tdx")", R"("tee": "none")"),
       "x.json:23: /evidence/tee: ", "unknown TEE \"none\" (auto, tdx, snp or sample)"},
      {"tee_upper_case", with(e, R"("tee": "tdx")", R"("tee": "TDX")"),
       "x.json:23: /evidence/tee: ", "unknown TEE \"TDX\""},
      {"tee_empty", with(e, R"("tee": "tdx")", R"("tee": "")"),
       "x.json:23: /evidence/tee: ", "unknown TEE \"\""},
      {"send_event_log_not_bool",
       with(e, R"("send_event_log": false)", R"("send_event_log": "no")"),
       "x.json:24: /evidence/send_event_log: ", "expected true or false, found string"},
      {"unknown_failure_action",
       with(e, R"("failure_action": "prompt")", R"("failure_action": "retry")"),
       "x.json:30: /unlock/failure_action: ", "fail or prompt"},
      {"too_many_parallel",
       with(e, R"("max_parallel_fetches": 8)", R"("max_parallel_fetches": 33)"),
       "x.json:32: /unlock/max_parallel_fetches: ", "out of range (1 to 32)"},
      {"negative_parallel",
       with(e, R"("max_parallel_fetches": 8)", R"("max_parallel_fetches": -1)"),
       "x.json:32: /unlock/max_parallel_fetches: ", "out of range"},
      {"bad_uuid", with(e, "0F2C8E4A-1B2C-4D3E-8F90-A1B2C3D4E5F6", "0F2C8E4A-1B2C-4D3E-8F90"),
       "x.json:33: /unlock/allowed_uuids/0: ", "is not a UUID"},
      {"duplicate_uuid",
       with(e, R"("0F2C8E4A-1B2C-4D3E-8F90-A1B2C3D4E5F6"])",
            R"("0F2C8E4A-1B2C-4D3E-8F90-A1B2C3D4E5F6", "0f2c8e4a-1b2c-4d3e-8f90-a1b2c3d4e5f6"])"),
       "x.json:33: /unlock/allowed_uuids/1: ", "listed twice"},
      {"relative_crypttab", with(e, "/etc/crypttab.cc-fde", "crypttab"),
       "x.json:34: /unlock/crypttab: ", "not an absolute path"},
      {"duplicate_key", with(e, R"("tee": "tdx",)", R"("tee": "tdx", "tee": "sample",)"),
       "x.json:23: /evidence/tee: ", "duplicate key"},
      {"profile_not_object", with(e, R"("ita-eu": {)", R"("ita-eu": 3, "x": {)"),
       "x.json:16: /profiles/ita-eu: ", "expected an object, found number"},
      {"document_not_object", "[1, 2]",
       "x.json:1: (document): ", "expected a JSON object, found array"},
      {"init_data_twice",
       with(e, R"("init_data": "/run/cc-fde-init-data.toml")",
            R"("init_data": "/run/cc-fde-init-data.toml", "init_data_smbios": "cc-fde.init-data")"),
       "x.json:25: /evidence/init_data_smbios: ", "give one of the two"},
      {"init_data_smbios_bad_name",
       with(e, R"("init_data": "/run/cc-fde-init-data.toml")", R"("init_data_smbios": "cc-fde=x")"),
       "x.json:25: /evidence/init_data_smbios: ", "character 6 is not one of A-Z a-z 0-9 _ . @ -"},
      {"init_data_smbios_empty",
       with(e, R"("init_data": "/run/cc-fde-init-data.toml")", R"("init_data_smbios": "")"),
       "x.json:25: /evidence/init_data_smbios: ", "must be 1 to 255 characters"},
  };
}

class ConfigRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigRejects, WithLineAndPointer) {
  const BadCase& bad = GetParam();
  auto config = parse_config(bad.text, "x.json");
  ASSERT_FALSE(config.ok()) << bad.name;
  EXPECT_EQ(config.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_EQ(config.status().message().substr(0, bad.expected_prefix.size()), bad.expected_prefix)
      << config.status().message();
  EXPECT_THAT(config.status().message(), HasSubstr(bad.what));
}

INSTANTIATE_TEST_SUITE_P(Cases, ConfigRejects, ::testing::ValuesIn(bad_cases()),
                         [](const auto& test_case) { return std::string(test_case.param.name); });

TEST(Config, OneLineFilesPointAtLineOne) {
  auto config = parse_config(
      R"({"version":1,"profiles":{"a":{"url":"https://h","ca_file":"/c","resources":["default/*"],"extra":1}}})",
      "one");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "one:1: /profiles/a/extra: unknown key (allowed: protocol, url, "
            "ca_file, pins, client_certificate, client_key, proxy, "
            "connect_timeout_s, request_timeout_s, admin_token_file, resources)");
}

TEST(Config, SyntaxErrorsGiveLineAndColumn) {
  const std::string text = "{\n  \"version\": 1,\n  \"profiles\": {,\n}";
  auto config = parse_config(text, "broken.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(config.status().message(), HasSubstr("broken.json:3:16: invalid JSON: "));
  EXPECT_THAT(config.status().message(), ::testing::Not(HasSubstr("[json.exception")));

  auto empty = parse_config("", "empty.json");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.json:1:1: invalid JSON"));

  auto trailing = parse_config(std::string(kExample) + "\n}", "t.json");
  ASSERT_FALSE(trailing.ok());
  EXPECT_THAT(trailing.status().message(), HasSubstr("t.json:37:1: invalid JSON"));
}

TEST(Config, UntrustedTextIsEscapedInMessages) {
  auto config = parse_config(
      "{\"version\":1,\"profiles\":{\"a\":{\"url\":\"https://h\\u001b[31m\",\"ca_file\":\"/c\"}}}",
      "esc");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find('\x1b'), std::string::npos);
}

TEST(Config, LoadConfigReadsTheFileAndNamesIt) {
  testing::TempDir dir;
  const auto path = dir.path() / "config.json";
  {
    std::ofstream out(path);
    out << with(kExample, R"("tee": "tdx")", R"("tee": "tdx ")");
  }
  auto config = load_config(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(config.status().message(), HasSubstr(path.string() + ":23: /evidence/tee: "));

  {
    std::ofstream out(path);
    out << kExample;
  }
  auto good = load_config(path);
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_EQ(good->origin, path.string());

  auto missing = load_config(dir.path() / "absent.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

constexpr const char* kMinimal =
    R"({"version":1,"profiles":{"default":{"url":"https://h","ca_file":"/c",)"
    R"("resources":["default/fde/*","other/key/root"]}})";

std::string minimal_with(std::string_view extra) {
  return std::string(kMinimal) + std::string(extra) + "}";
}

TEST(Config, ProfilesSayWhichResourcesAHeaderMayAskFor) {
  auto config = parse_config(minimal_with(""), "r");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  const BrokerProfile& profile = config->profiles.at("default");
  EXPECT_TRUE(profile.allows_resource("default/fde/root"));
  EXPECT_TRUE(profile.allows_resource("other/key/root"));
  EXPECT_FALSE(profile.allows_resource("default/fde/"));
  EXPECT_FALSE(profile.allows_resource("default/fdex/root"));
  EXPECT_FALSE(profile.allows_resource("other/key/root2"));

  auto missing =
      parse_config(R"({"version":1,"profiles":{"a":{"url":"https://h","ca_file":"/c"}}})", "m");
  EXPECT_THAT(missing.status().message(),
              HasSubstr("m:1: /profiles/a: missing required key \"resources\""));
  for (const auto& [pattern, what] :
       std::vector<std::pair<std::string, std::string>>{{R"("*")", "a lone '*'"},
                                                        {R"("a/*/c")", "'*' may only end"},
                                                        {R"("a b")", "not printable ASCII"},
                                                        {R"("")", "1 to 256"}}) {
    auto bad = parse_config(R"({"version":1,"profiles":{"a":{"url":"https://h","ca_file":"/c",)"
                            R"("resources":[)" +
                                pattern + "]}}}",
                            "p");
    ASSERT_FALSE(bad.ok()) << pattern;
    EXPECT_THAT(bad.status().message(), HasSubstr("/profiles/a/resources/0: "));
    EXPECT_THAT(bad.status().message(), HasSubstr(what));
  }
}

TEST(Config, RequiredVolumesAndActivationRules) {
  auto config = parse_config(
      minimal_with(R"(,"unlock":{"volumes":[{"uuid":"0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0",)"
                   R"("profile":"default","resource":"default/fde/root"},)"
                   R"({"uuid":"11111111-2222-3333-4444-555555555555"}],)"
                   R"("require_crypttab":false,"require_phase_event":false,"allow_discards":true,)"
                   R"("allowed_ciphers":["aes-xts-plain64","aes-gcm-random"],)"
                   R"("allowed_sector_sizes":[4096]})"),
      "v");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  ASSERT_EQ(config->unlock.volumes.size(), 2u);
  EXPECT_EQ(config->unlock.volumes[0].uuid, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0");
  EXPECT_EQ(config->unlock.volumes[0].resource, "default/fde/root");
  EXPECT_EQ(config->unlock.volumes[1].profile, "");
  EXPECT_FALSE(config->unlock.require_crypttab);
  EXPECT_FALSE(config->unlock.require_phase_event);
  EXPECT_TRUE(config->unlock.allow_discards);
  EXPECT_EQ(config->unlock.allowed_sector_sizes, std::vector<unsigned>{4096});

  auto defaults = parse_config(minimal_with(""), "d");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->unlock.require_crypttab);
  EXPECT_TRUE(defaults->unlock.require_phase_event);
  EXPECT_FALSE(defaults->unlock.allow_discards);
  EXPECT_EQ(defaults->unlock.allowed_ciphers, std::vector<std::string>{"aes-xts-plain64"});
  EXPECT_EQ(defaults->kernel_command_line.allow,
            (std::vector<std::string>{"timeout", "volume-timeout", "debug"}));

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"(,"unlock":{"allowed_ciphers":["cipher_null-ecb"]})", "the null cipher does not encrypt"},
      {R"(,"unlock":{"allowed_sector_sizes":[8192]})", "out of range"},
      {R"(,"unlock":{"allowed_sector_sizes":[1536]})", "not a power of two"},
      {R"(,"unlock":{"volumes":[{"uuid":"nope"}]})", "is not a UUID"},
      {R"(,"unlock":{"volumes":[{"uuid":"11111111-2222-3333-4444-555555555555","profile":"x"}]})",
       "names profile \"x\", which is not configured"},
      {R"(,"unlock":{"volumes":[{"uuid":"11111111-2222-3333-4444-555555555555",)"
       R"("profile":"default","resource":"sibling/fde/root"}]})",
       "resource \"sibling/fde/root\" is not in profile default's resources"},
      {R"(,"kernel_command_line":{"allow":["timeout","urls"]})", "unknown option \"urls\""},
  };
  for (const auto& [extra, what] : bad) {
    auto refused = parse_config(minimal_with(extra), "b");
    ASSERT_FALSE(refused.ok()) << extra;
    EXPECT_EQ(refused.status().code(), ErrorCode::kConfigInvalid);
    EXPECT_THAT(refused.status().message(), HasSubstr(what)) << extra;
  }
}

TEST(Config, FirstBootVolumes) {
  auto config = parse_config(
      minimal_with(
          R"(,"unlock":{"first_boot":[{"partlabel":"cc-fde-state","name":"state",)"
          R"("resource":"default/fde/state"},{"partlabel":"scratch","name":"scratch",)"
          R"("profile":"default","resource":"default/fde/scratch","filesystem":"none"}]})"),
      "f");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  ASSERT_EQ(config->unlock.first_boot.size(), 2u);
  const FirstBootVolume& state = config->unlock.first_boot[0];
  EXPECT_EQ(state.partlabel, "cc-fde-state");
  EXPECT_EQ(state.name, "state");
  EXPECT_EQ(state.profile, "default");
  EXPECT_EQ(state.resource, "default/fde/state");
  EXPECT_EQ(state.filesystem, "ext4");
  EXPECT_EQ(config->unlock.first_boot[1].filesystem, "none");

  const std::string entry =
      R"(,"unlock":{"first_boot":[{"partlabel":"p","name":"n","resource":"default/fde/s")";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"(,"unlock":{"first_boot":{}})", "/unlock/first_boot: "},
      {R"(,"unlock":{"first_boot":[{"name":"n","resource":"default/fde/s"}]})",
       "missing required key \"partlabel\""},
      {R"(,"unlock":{"first_boot":[{"partlabel":"a b","name":"n","resource":"default/fde/s"}]})",
       "/unlock/first_boot/0/partlabel: \"a b\" has a character outside"},
      {R"(,"unlock":{"first_boot":[{"partlabel":")" + std::string(37, 'p') +
           R"(","name":"n","resource":"default/fde/s"}]})",
       "1 to 36 characters"},
      {R"(,"unlock":{"first_boot":[{"partlabel":"p","name":"../n","resource":"default/fde/s"}]})",
       "/unlock/first_boot/0/name: "},
      {R"(,"unlock":{"first_boot":[{"partlabel":"p","name":"n"}]})",
       "missing required key \"resource\""},
      {entry + R"(,"filesystem":"vfat"}]})", "unknown file system \"vfat\" (ext4, xfs or none)"},
      {entry + R"(,"profile":"x"}]})", "names profile \"x\", which is not configured"},
      {R"(,"unlock":{"first_boot":[{"partlabel":"p","name":"n","resource":"sibling/fde/s"}]})",
       "resource \"sibling/fde/s\" is not in profile default's resources"},
      {R"(,"unlock":{"first_boot":[{"partlabel":"p","name":"n","resource":"default/fde/*"}]})",
       "one resource, not a prefix"},
      {entry + R"(,"size":1}]})", "/unlock/first_boot/0/size: unknown key"},
      {entry + R"(},{"partlabel":"p","name":"m","resource":"default/fde/t"}]})",
       "partition name p is listed twice"},
      {entry + R"(},{"partlabel":"q","name":"n","resource":"default/fde/t"}]})",
       "mapping name n is listed twice"},
  };
  for (const auto& [extra, what] : bad) {
    auto refused = parse_config(minimal_with(extra), "b");
    ASSERT_FALSE(refused.ok()) << extra;
    EXPECT_EQ(refused.status().code(), ErrorCode::kConfigInvalid);
    EXPECT_THAT(refused.status().message(), HasSubstr(what)) << extra;
  }
}

TEST(Config, AllowedIntegrityDefaultsToNoneAndAcceptsOnlyKnownValues) {
  auto defaults = parse_config(minimal_with(""), "d");
  ASSERT_TRUE(defaults.ok()) << defaults.status().to_string();
  EXPECT_EQ(defaults->unlock.allowed_integrity, std::vector<std::string>{"none"});

  auto required = parse_config(
      minimal_with(R"j(,"unlock":{"allowed_integrity":["hmac(sha256)","aead"]})j"), "r");
  ASSERT_TRUE(required.ok()) << required.status().to_string();
  EXPECT_EQ(required->unlock.allowed_integrity, (std::vector<std::string>{"hmac(sha256)", "aead"}));
  auto both = parse_config(
      minimal_with(R"j(,"unlock":{"allowed_integrity":["none","hmac(sha512)"]})j"), "b");
  ASSERT_TRUE(both.ok()) << both.status().to_string();
  EXPECT_EQ(both->unlock.allowed_integrity, (std::vector<std::string>{"none", "hmac(sha512)"}));

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"j(,"unlock":{"allowed_integrity":[]})j",
       "/unlock/allowed_integrity: at least one value is required (\"none\": no integrity)"},
      {R"j(,"unlock":{"allowed_integrity":"none"})j", "/unlock/allowed_integrity: "},
      {R"j(,"unlock":{"allowed_integrity":["hmac-sha256"]})j",
       "/unlock/allowed_integrity/0: \"hmac-sha256\" is not one of none, hmac(sha256), "
       "hmac(sha512), aead"},
      {R"j(,"unlock":{"allowed_integrity":["none","crc32c"]})j",
       "/unlock/allowed_integrity/1: \"crc32c\" is not one of"},
      {R"j(,"unlock":{"allowed_integrity":["aead","aead"]})j",
       "/unlock/allowed_integrity/1: \"aead\" is listed twice"},
      {R"j(,"unlock":{"allowed_integrity":[1]})j", "/unlock/allowed_integrity/0: "},
  };
  for (const auto& [extra, what] : bad) {
    auto refused = parse_config(minimal_with(extra), "b");
    ASSERT_FALSE(refused.ok()) << extra;
    EXPECT_EQ(refused.status().code(), ErrorCode::kConfigInvalid);
    EXPECT_THAT(refused.status().message(), HasSubstr(what)) << extra;
  }
}

TEST(Config, OnlyRegularFilesOfTheImageAreTrusted) {
  testing::TempDir dir;
  const auto file = dir.path() / "ca.pem";
  std::ofstream(file) << "x";
  EXPECT_TRUE(check_trusted_file(file, dir.path()).ok());
  auto device = check_trusted_file("/dev/null", "/");
  EXPECT_EQ(device.code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(device.message(), HasSubstr("/dev/null is a character device"));
  const auto fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(check_trusted_file(fifo, dir.path()).message(), HasSubstr("is a FIFO"));
  EXPECT_THAT(check_trusted_file(dir.path(), dir.path()).message(), HasSubstr("a directory"));
  // /proc is another file system than the test's directory, as a disk the host attached would be.
  auto other = check_trusted_file("/proc/self/status", dir.path());
  EXPECT_EQ(other.code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(other.message(), HasSubstr("is on another file system"));
  EXPECT_EQ(check_trusted_file(dir.path() / "absent", dir.path()).code(), ErrorCode::kNotFound);

  auto config = parse_config(minimal_with(""), "t");
  ASSERT_TRUE(config.ok());
  config->profiles.at("default").ca_file = "/dev/null";
  auto files = check_trusted_files(*config);
  EXPECT_THAT(files.message(), HasSubstr("profile default ca_file"));
}

TEST(Config, BootFilesAreWhatTheInitramfsMustCarry) {
  auto config = parse_config(minimal_with(""), "b");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  BrokerProfile& profile = config->profiles.at("default");
  profile.client_certificate = "/etc/cc-fde/client.pem";
  profile.client_key = "/etc/cc-fde/client.key";
  profile.admin_token_file = "/root/admin-token";
  BrokerProfile other = profile;
  other.name = "other";
  other.client_certificate.clear();
  other.client_key.clear();
  config->profiles.emplace("other", other);  // the same ca_file: listed once
  config->evidence.platform_root = "/run/tdx-emu";
  const auto names = [](const std::vector<NamedFile>& files) {
    std::vector<std::string> out;
    for (const auto& file : files) out.push_back(file.setting + "=" + file.path.string());
    return out;
  };
  const std::string ca = "profiles/default/ca_file=" + profile.ca_file.string();
  EXPECT_EQ(
      names(boot_files(*config)),
      (std::vector<std::string>{ca, "profiles/default/client_certificate=/etc/cc-fde/client.pem",
                                "profiles/default/client_key=/etc/cc-fde/client.key"}));
  // /etc/crypttab is the generator's own; any other crypttab is the configuration's.
  config->unlock.crypttab = "/etc/crypttab";
  EXPECT_EQ(boot_files(*config).size(), 3u);
  config->unlock.crypttab = "/etc/cc-fde/crypttab";
  EXPECT_EQ(names(boot_files(*config)).back(), "unlock/crypttab=/etc/cc-fde/crypttab");
}

}  // namespace
}  // namespace ccfde::agent
