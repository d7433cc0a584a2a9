// SPDX-License-Identifier: Apache-2.0
#include "ccfde/kbs-client/resource_reference.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "ccfde/kbs-client/confdata.h"

namespace ccfde::kbs_client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kVmResource =
    "kbs+provisioner:///default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root";

InitData init_data_with(std::string_view data_table) {
  auto parsed = parse_init_data("version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n" +
                                std::string(data_table));
  EXPECT_TRUE(parsed.ok()) << parsed.status().to_string();
  return parsed.ok() ? std::move(parsed).value() : InitData{};
}

SecretBytes secret_of(std::string_view text) {
  return SecretBytes::copy_of({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

std::string text(const SecretBytes& secret) {
  return {reinterpret_cast<const char*>(secret.data()), secret.size()};
}

TEST(ResourceReference, APathAndAKbsUriNameTheResourcePlugin) {
  for (const std::string_view reference : {"default/fde/root", "kbs:///default/fde/root"}) {
    auto path = resolve_resource_reference(reference, nullptr);
    ASSERT_TRUE(path.ok()) << reference << ": " << path.status().to_string();
    EXPECT_EQ(*path, (ResourcePath{"default", "fde", "root", KbsPlugin::kResource})) << reference;
  }
}

TEST(ResourceReference, AProvisionerUriNamesTheProvisionerPlugin) {
  auto path = resolve_resource_reference(kVmResource, nullptr);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(path->plugin, KbsPlugin::kProvisioner);
  EXPECT_EQ(path->url_path(), "provisioner/default/6f1a2b3c-4d5e-5f60-8a7b-9c0d1e2f3a4b/root");
}

TEST(ResourceReference, InitDataTakesThePathFromTheInitDataClaim) {
  const InitData init_data =
      init_data_with("\"trustee.kbs.resource\" = \"" + std::string(kVmResource) + "\"\n");
  auto path = resolve_resource_reference(kInitDataReference, &init_data);
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(path->uri(), kVmResource);
}

TEST(ResourceReference, InitDataWithoutInitDataIsRefused) {
  auto path = resolve_resource_reference(kInitDataReference, nullptr);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(path.status().message(), HasSubstr("trustee.kbs.resource claim"));
  EXPECT_THAT(path.status().message(), HasSubstr("no init-data"));
}

TEST(ResourceReference, InitDataWithoutTheClaimListsTheClaimsItHas) {
  const InitData init_data = init_data_with("\"cc-fde.profile\" = \"default\"\n");
  auto path = resolve_resource_reference(kInitDataReference, &init_data);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(path.status().message(), HasSubstr("no trustee.kbs.resource claim"));
  EXPECT_THAT(path.status().message(), HasSubstr("[cc-fde.profile]"));
}

TEST(ResourceReference, AClaimThatIsNotAKbsUriIsRefusedNamingTheClaim) {
  for (const std::string_view claim :
       {"default/fde/root", "https://kbs.example/default/fde/root", "kbs+vault:///a/b/c",
        "kbs+provisioner://host/a/b/c", "kbs+provisioner:///a/../c"}) {
    const InitData init_data =
        init_data_with("\"trustee.kbs.resource\" = \"" + std::string(claim) + "\"\n");
    auto path = resolve_resource_reference(kInitDataReference, &init_data);
    ASSERT_FALSE(path.ok()) << claim;
    EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument) << claim;
    EXPECT_THAT(path.status().message(), HasSubstr("init-data's trustee.kbs.resource claim"))
        << claim;
  }
}

TEST(ResourceReference, MalformedReferencesAreInvalidArguments) {
  for (const std::string_view reference :
       {"", "default/fde", "default/fde/root/extra", "init-data:", "kbs:default/fde/root",
        "kbs+unknown:///default/fde/root", "INIT-DATA"}) {
    auto path = resolve_resource_reference(reference, nullptr);
    ASSERT_FALSE(path.ok()) << reference;
    EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument) << reference;
  }
}

TEST(ResourceReference, TheProvisionerKeyOfTheRootTagIsTheOneTrusteeWrites) {
  EXPECT_EQ(provisioner_key_name("root"), kConfdataRootKey);
}

TEST(DiskKey, AResourcePluginSecretIsTheKeyItself) {
  auto key = disk_key_from_secret(ResourcePath{"default", "fde", "root"},
                                  secret_of("version = \"0.1.0\"\n[data]\n"));
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(text(*key), "version = \"0.1.0\"\n[data]\n");
}

TEST(DiskKey, AProvisionerSecretGivesTheConfdataEntryOfItsTag) {
  const std::string_view document =
      "version = \"0.1.0\"\n\n[data]\n\"io.cryptsetup.key.text.root\" = \"RootKey0123456789\"\n"
      "\"io.cryptsetup.key.text.data\" = \"DataKey0123456789\"\n";
  auto root = disk_key_from_secret(ResourcePath{"default", "vm-1", "root", KbsPlugin::kProvisioner},
                                   secret_of(document));
  ASSERT_TRUE(root.ok()) << root.status().to_string();
  EXPECT_EQ(text(*root), "RootKey0123456789");
  auto data = disk_key_from_secret(ResourcePath{"default", "vm-1", "data", KbsPlugin::kProvisioner},
                                   secret_of(document));
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  EXPECT_EQ(text(*data), "DataKey0123456789");
}

TEST(DiskKey, AProvisionerSecretThatIsNotConfdataNamesThePathAndNotTheBytes) {
  auto key = disk_key_from_secret(ResourcePath{"default", "vm-1", "root", KbsPlugin::kProvisioner},
                                  secret_of("SecretRawKeyBytes0123456789abcdef"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(key.status().message(), HasSubstr("kbs+provisioner:///default/vm-1/root"));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("SecretRawKeyBytes")));
}

TEST(DiskKey, AProvisionerSecretWithoutTheTagsEntryListsTheNamesItHas) {
  auto key = disk_key_from_secret(
      ResourcePath{"default", "vm-1", "swap", KbsPlugin::kProvisioner},
      secret_of("version = \"0.1.0\"\n[data]\n\"io.cryptsetup.key.text.root\" = \"RootKey01\"\n"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), ErrorCode::kMalformed);
  EXPECT_THAT(key.status().message(), HasSubstr("io.cryptsetup.key.text.swap"));
  EXPECT_THAT(key.status().message(), HasSubstr("io.cryptsetup.key.text.root"));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("RootKey01")));
}

}  // namespace
}  // namespace ccfde::kbs_client
