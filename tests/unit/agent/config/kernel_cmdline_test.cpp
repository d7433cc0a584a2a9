// SPDX-License-Identifier: Apache-2.0
// parse_kernel_command_line / apply_kernel_command_line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ccfde/agent/config.h"

namespace ccfde::agent {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

AgentConfig two_profiles() {
  auto config = parse_config(R"({"version":1,"profiles":{
      "default":{"url":"https://kbs.example","ca_file":"/etc/cc-fde/ca.pem","resources":["default/*"]},
      "backup":{"url":"https://backup.example:8443","ca_file":"/etc/cc-fde/backup-ca.pem","resources":["default/*"]}}})",
                             "/etc/cc-fde/config.json");
  EXPECT_TRUE(config.ok()) << config.status().to_string();
  return config.ok() ? std::move(config).value() : AgentConfig{};
}

TEST(KernelCommandLine, ParsesEveryOptionAndIgnoresOtherWords) {
  auto cmdline = parse_kernel_command_line(
      "BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet rd.cc-fde.config=/etc/cc-fde/other.json "
      "rd.cc-fde.url=https://10.1.2.3:8080 rd.cc-fde.url=backup=https://b.example/ "
      "rd.cc-fde.ca=/etc/ca.pem rd.cc-fde.ca=backup=/etc/b.pem rd.cc-fde.tee=sample "
      "rd.cc-fde.timeout=90 rd.cc-fde.volume-timeout=30 rd.cc-fde.failure=prompt "
      "rd.cc-fde.measure=0 rd.cc-fde.debug cc-fdex=1 "
      "rd.luks.uuid=luks-0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0\n");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  EXPECT_FALSE(cmdline->disabled);
  EXPECT_TRUE(cmdline->debug);
  EXPECT_EQ(cmdline->config_path, std::filesystem::path("/etc/cc-fde/other.json"));
  EXPECT_EQ(cmdline->urls_by_profile.at("default"),
            std::vector<std::string>{"https://10.1.2.3:8080"});
  EXPECT_EQ(cmdline->urls_by_profile.at("backup"), std::vector<std::string>{"https://b.example"});
  EXPECT_EQ(cmdline->ca_by_profile.at("default"), "/etc/ca.pem");
  EXPECT_EQ(cmdline->ca_by_profile.at("backup"), "/etc/b.pem");
  EXPECT_EQ(cmdline->tee, std::optional<TeeSelection>(measure::TeeKind::kSample));
  EXPECT_EQ(cmdline->overall_timeout, seconds(90));
  EXPECT_EQ(cmdline->volume_timeout, seconds(30));
  EXPECT_EQ(cmdline->failure_action, FailureAction::kPrompt);
  EXPECT_EQ(cmdline->measure_unlock, false);
  EXPECT_EQ(cmdline->luks_uuids, std::vector<std::string>{"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"});
  ASSERT_EQ(cmdline->options.size(), 11u);
  EXPECT_EQ(cmdline->options[0].first, "config");
  EXPECT_EQ(cmdline->options[10].first, "debug");
}

TEST(KernelCommandLine, PlainFormsAndLastWins) {
  auto cmdline =
      parse_kernel_command_line("cc-fde.timeout=10 rd.cc-fde.timeout=20 cc-fde=0 'other=a b'");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  EXPECT_EQ(cmdline->overall_timeout, seconds(20));
  EXPECT_TRUE(cmdline->disabled);
  EXPECT_EQ(cmdline->options.back().first, "disable");

  auto nothing = parse_kernel_command_line("quiet splash");
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->disabled);
  EXPECT_FALSE(nothing->config_path);
  EXPECT_TRUE(nothing->urls_by_profile.empty());
  EXPECT_TRUE(nothing->options.empty());
}

TEST(KernelCommandLine, QuotedCcFdeWordsAreRefusedNotGuessed) {
  // The kernel groups only double quotes, systemd both: a cc-fde word with either is refused.
  for (const char* text : {"\"rd.cc-fde.config=/etc/cc fde/c.json\"",
                           "rd.cc-fde.config=\"/a b/c.json\"", "rd.cc-fde.url='https://x'",
                           "'rd.cc-fde.tee=sample rd.cc-fde.debug'", "rd.luks.uuid=\"x\""}) {
    auto cmdline = parse_kernel_command_line(std::string("quiet ") + text);
    ASSERT_FALSE(cmdline.ok()) << text;
    EXPECT_EQ(cmdline.status().code(), ErrorCode::kConfigInvalid);
    EXPECT_THAT(cmdline.status().message(),
                testing::AnyOf(HasSubstr("quote characters"), HasSubstr("without quotes")))
        << text;
  }
  // Quotes elsewhere are split the systemd way and ignored.
  auto other = parse_kernel_command_line("a='x rd.cc-fde.tee=sample' rd.cc-fde.timeout=5");
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  EXPECT_FALSE(other->tee);
  EXPECT_EQ(other->overall_timeout, seconds(5));
}

TEST(KernelCommandLine, OnlyOptionsTheConfigurationAllowsAreAccepted) {
  const AgentConfig config = two_profiles();
  auto allowed = parse_kernel_command_line("rd.cc-fde.timeout=30 rd.cc-fde.debug");
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(check_command_line_policy(*allowed, config.kernel_command_line, config.origin).ok());
  for (const char* word : {"rd.cc-fde.url=https://evil.example", "rd.cc-fde.ca=/dev/vdc",
                           "rd.cc-fde.tee=sample", "rd.cc-fde.failure=prompt",
                           "rd.cc-fde.measure=0", "rd.cc-fde=0", "rd.cc-fde.config=/dev/vdc"}) {
    auto cmdline = parse_kernel_command_line(std::string("rd.cc-fde.timeout=30 ") + word);
    ASSERT_TRUE(cmdline.ok()) << word;
    const Status refused =
        check_command_line_policy(*cmdline, config.kernel_command_line, config.origin);
    EXPECT_EQ(refused.code(), ErrorCode::kConfigInvalid) << word;
    EXPECT_THAT(refused.message(), HasSubstr(std::string("kernel command line: ") + word +
                                             ": the configuration /etc/cc-fde/config.json does "
                                             "not let the command line set"));
    EXPECT_THAT(refused.message(),
                HasSubstr("(kernel_command_line.allow: timeout, volume-timeout, debug)"));
  }
  AgentConfig open = config;
  open.kernel_command_line.allow = {"url", "tee"};
  auto url = parse_kernel_command_line("rd.cc-fde.url=https://other.example rd.cc-fde.tee=sample");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(check_command_line_policy(*url, open.kernel_command_line, open.origin).ok());
  auto timeout = parse_kernel_command_line("rd.cc-fde.timeout=30");
  EXPECT_EQ(check_command_line_policy(*timeout, open.kernel_command_line, open.origin).code(),
            ErrorCode::kConfigInvalid);
}

TEST(KernelCommandLine, LuksUuidsAddRequiredVolumesNeverRemove) {
  AgentConfig config = two_profiles();
  config.unlock.volumes = {{"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "default", "default/fde/r"}};
  auto cmdline = parse_kernel_command_line(
      "rd.luks.uuid=0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0 rd.luks.uuid=luks-11111111-2222-3333-"
      "4444-555555555555");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  ASSERT_TRUE(apply_kernel_command_line(*cmdline, config).ok());
  ASSERT_EQ(config.unlock.volumes.size(), 2u);
  EXPECT_EQ(config.unlock.volumes[0].resource, "default/fde/r");
  EXPECT_EQ(config.unlock.volumes[1].uuid, "11111111-2222-3333-4444-555555555555");
  EXPECT_FALSE(parse_kernel_command_line("rd.luks.uuid=abc").ok());
}

struct BadOption {
  const char* text;
  const char* what;
};

class KernelCommandLineRejects : public ::testing::TestWithParam<BadOption> {};

TEST_P(KernelCommandLineRejects, NamingTheOption) {
  auto cmdline = parse_kernel_command_line(std::string("quiet ") + GetParam().text + " ro");
  ASSERT_FALSE(cmdline.ok()) << GetParam().text;
  EXPECT_EQ(cmdline.status().code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(cmdline.status().message(), HasSubstr(GetParam().text));
  EXPECT_THAT(cmdline.status().message(), HasSubstr(GetParam().what));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KernelCommandLineRejects,
    ::testing::Values(BadOption{"rd.cc-fde.timeout=abc", "not a number of seconds"},
                      BadOption{"rd.cc-fde.timeout=0", "from 1 to 3600"},
                      BadOption{"rd.cc-fde.volume-timeout=3601", "from 1 to 3600"},
                      BadOption{"rd.cc-fde.timeout=", "empty value"},
                      BadOption{"rd.cc-fde.url=http://kbs", "not an https:// URL"},
                      BadOption{"rd.cc-fde.url=backup=https://kbs/path", "path"},
                      BadOption{"rd.cc-fde.url=https://a.example,http://b.example",
                                "URL 2 \"http://b.example\": not an https:// URL"},
                      BadOption{"rd.cc-fde.url=backup=https://a.example,https://b/x",
                                "URL 2 \"https://b/x\": a URL with a path"},
                      BadOption{"rd.cc-fde.url=https://a.example,", "URL 2 is empty"},
                      BadOption{"rd.cc-fde.url=,https://a.example", "URL 1 is empty"},
                      BadOption{"rd.cc-fde.url=https://a.example,https://a.example/",
                                "URL 2 \"https://a.example/\" is listed twice"},
                      BadOption{"rd.cc-fde.url=https://a1,https://a2,https://a3,https://a4,"
                                "https://a5,https://a6,https://a7,https://a8,https://a9",
                                "more than 8 URLs"},
                      BadOption{"rd.cc-fde.ca=ca.pem", "not an absolute path"},
                      BadOption{"rd.cc-fde.config=relative.json", "not an absolute path"},
                      BadOption{"rd.cc-fde.tee=sgx", "unknown TEE"},
                      BadOption{"rd.cc-fde.tee=none", "unknown TEE"},
                      BadOption{"rd.cc-fde.tee=TDX", "unknown TEE"},
                      BadOption{"rd.cc-fde.failure=retry", "fail or prompt"},
                      BadOption{"rd.cc-fde.measure=yes", "0 or 1"},
                      BadOption{"rd.cc-fde=maybe", "rd.cc-fde=0 or rd.cc-fde=1"},
                      BadOption{"rd.cc-fde.url", "needs a value"},
                      BadOption{"rd.cc-fde.urls=https://kbs", "unknown option"}));

TEST(KernelCommandLine, AUrlListIsCommaSeparatedAndReplacesTheProfilesList) {
  AgentConfig config = two_profiles();
  auto cmdline = parse_kernel_command_line(
      "rd.cc-fde.url=backup=https://b1.example:8443/,https://b2.example,https://[fd00::1]:9");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  const std::vector<std::string> expected = {"https://b1.example:8443", "https://b2.example",
                                             "https://[fd00::1]:9"};
  EXPECT_EQ(cmdline->urls_by_profile.at("backup"), expected);
  ASSERT_TRUE(apply_kernel_command_line(*cmdline, config).ok());
  EXPECT_EQ(config.profiles.at("backup").urls, expected);
  EXPECT_EQ(config.profiles.at("default").urls.size(), 1u);
}

TEST(KernelCommandLine, AppliesOverridesToTheNamedProfiles) {
  AgentConfig config = two_profiles();
  auto cmdline = parse_kernel_command_line(
      "rd.cc-fde.url=https://override.example:9000 rd.cc-fde.ca=backup=/run/b.pem "
      "rd.cc-fde.tee=sample rd.cc-fde.timeout=100 rd.cc-fde.volume-timeout=50 "
      "rd.cc-fde.failure=prompt rd.cc-fde.measure=0");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  ASSERT_TRUE(apply_kernel_command_line(*cmdline, config).ok());
  EXPECT_EQ(config.profiles.at("default").urls,
            std::vector<std::string>{"https://override.example:9000"});
  EXPECT_EQ(config.profiles.at("default").ca_file, "/etc/cc-fde/ca.pem");
  EXPECT_EQ(config.profiles.at("backup").urls,
            std::vector<std::string>{"https://backup.example:8443"});
  EXPECT_EQ(config.profiles.at("backup").ca_file, "/run/b.pem");
  EXPECT_EQ(config.evidence.tee, measure::TeeKind::kSample);
  EXPECT_EQ(config.unlock.overall_timeout, seconds(100));
  EXPECT_EQ(config.unlock.volume_timeout, seconds(50));
  EXPECT_EQ(config.unlock.failure_action, FailureAction::kPrompt);
  EXPECT_FALSE(config.unlock.measure_unlock);
}

TEST(KernelCommandLine, TeeAutoOverridesAConfiguredTee) {
  AgentConfig config = two_profiles();
  config.evidence.tee = measure::TeeKind::kSnp;
  auto cmdline = parse_kernel_command_line("rd.cc-fde.tee=auto");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  ASSERT_TRUE(cmdline->tee.has_value());    // given ...
  EXPECT_FALSE(cmdline->tee->has_value());  // ... as auto
  ASSERT_TRUE(apply_kernel_command_line(*cmdline, config).ok());
  EXPECT_FALSE(config.evidence.tee.has_value());
}

TEST(KernelCommandLine, UnknownProfileLeavesTheConfigurationUnchanged) {
  AgentConfig config = two_profiles();
  auto cmdline = parse_kernel_command_line(
      "rd.cc-fde.tee=sample rd.cc-fde.url=staging=https://staging.example");
  ASSERT_TRUE(cmdline.ok()) << cmdline.status().to_string();
  const Status status = apply_kernel_command_line(*cmdline, config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(status.message(), HasSubstr("rd.cc-fde.url"));
  EXPECT_THAT(status.message(), HasSubstr("\"staging\""));
  EXPECT_THAT(status.message(), HasSubstr("configured: backup, default"));
  EXPECT_FALSE(config.evidence.tee.has_value());  // auto: nothing applied

  KernelCommandLine ca;
  ca.ca_by_profile["nope"] = "/x.pem";
  EXPECT_EQ(apply_kernel_command_line(ca, config).code(), ErrorCode::kConfigInvalid);
}

TEST(KernelCommandLine, AppliedValuesAreRevalidated) {
  AgentConfig config = two_profiles();
  // Only the volume timeout given: 200 s against the default overall 300 s is fine, 400 s is not.
  auto longer = parse_kernel_command_line("rd.cc-fde.volume-timeout=400");
  ASSERT_TRUE(longer.ok());
  const Status status = apply_kernel_command_line(*longer, config);
  EXPECT_EQ(status.code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(status.message(), HasSubstr("longer than the overall timeout (300 s)"));
  EXPECT_EQ(config.unlock.volume_timeout, seconds(120));

  KernelCommandLine built;  // structures built by hand are checked too
  built.urls_by_profile["default"] = {"http://plain"};
  EXPECT_EQ(apply_kernel_command_line(built, config).code(), ErrorCode::kConfigInvalid);
  built = {};
  built.ca_by_profile["default"] = "relative.pem";
  EXPECT_EQ(apply_kernel_command_line(built, config).code(), ErrorCode::kConfigInvalid);
  built = {};
  built.tee.emplace(measure::TeeKind::kNone);  // no TEE is not a selection
  const Status none = apply_kernel_command_line(built, config);
  EXPECT_EQ(none.code(), ErrorCode::kConfigInvalid);
  EXPECT_THAT(none.message(), HasSubstr("rd.cc-fde.tee=none: unknown TEE"));
  EXPECT_FALSE(config.evidence.tee.has_value());
  EXPECT_EQ(config.profiles.at("default").urls, std::vector<std::string>{"https://kbs.example"});
}

}  // namespace
}  // namespace ccfde::agent
