// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/direct_boot.h"

#include <gtest/gtest.h>

#include "ccfde/common/digest.h"
#include "ccfde/measure/pe_authenticode.h"
#include "ccfde/measure/replay.h"
#include "ccfde/measure/tcg_event_log.h"
#include "ccfde/testing/testdata.h"

namespace ccfde::measure {
namespace {

// Trustee's CCEL of an OVMF direct boot (tests/data/trustee/PROVENANCE.md); its kernel, initrd
// and command line are not published, so their digests come from the log's records.
constexpr const char* kOvmfDirectBootLog = "trustee/deps/eventlog/test_data/CCEL_data_ovmf";

const TcgEvent* find_event(const TcgEventLog& log, std::uint32_t type, std::uint32_t mr_index,
                           std::size_t skip = 0) {
  for (const auto& event : log.events) {
    if (event.event_type == type && event.register_index == mr_index && skip-- == 0) return &event;
  }
  return nullptr;
}

TEST(DirectBoot, ReproducesTheRtmr1AndRtmr2OfARealOvmfDirectBoot) {
  CCFDE_LOAD_TESTDATA(bytes, kOvmfDirectBootLog);
  auto log = parse_tcg_event_log(bytes);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto replay = replay_rtmrs(*log);
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();

  const TcgEvent* kernel = find_event(*log, kEvEfiBootServicesApplication, 2);
  const TcgEvent* load_options = find_event(*log, kEvEventTag, 3, 0);
  const TcgEvent* initrd = find_event(*log, kEvEventTag, 3, 1);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(load_options, nullptr);
  ASSERT_NE(initrd, nullptr);
  DirectBootDigests digests;
  digests.kernel_authenticode = *kernel->digest_for(kTcgAlgSha384);
  digests.load_options = *load_options->digest_for(kTcgAlgSha384);
  digests.initrd = *initrd->digest_for(kTcgAlgSha384);

  auto prediction = predict_direct_boot(digests);
  ASSERT_TRUE(prediction.ok()) << prediction.status().to_string();
  EXPECT_EQ(hex_encode(prediction->rtmr1), hex_encode(replay->registers.at(RegisterId::rtmr(1))));
  EXPECT_EQ(hex_encode(prediction->rtmr2), hex_encode(replay->registers.at(RegisterId::rtmr(2))));

  // Every predicted record is the log's record, in the log's order, with the same data (except
  // the kernel's load address and size, which the firmware chooses at run time).
  std::vector<const TcgEvent*> logged;
  for (const auto& event : log->events) {
    if (event.register_index == 2 || event.register_index == 3) logged.push_back(&event);
  }
  ASSERT_EQ(logged.size(), prediction->events.size());
  for (std::size_t i = 0; i < logged.size(); ++i) {
    const auto& predicted = prediction->events[i];
    EXPECT_EQ(predicted.mr_index, logged[i]->register_index) << i;
    EXPECT_EQ(predicted.event_type, logged[i]->event_type) << i;
    EXPECT_EQ(hex_encode(predicted.digest), hex_encode(*logged[i]->digest_for(kTcgAlgSha384))) << i;
    if (predicted.event_type == kEvEfiBootServicesApplication) {
      // The device path (after the three u64 fields and its length) is the same.
      ASSERT_GE(logged[i]->data.size(), 32U);
      EXPECT_EQ(hex_encode(Bytes(predicted.event_data.begin() + 24, predicted.event_data.end())),
                hex_encode(Bytes(logged[i]->data.begin() + 24, logged[i]->data.end())))
          << predicted.description;
    } else {
      EXPECT_EQ(hex_encode(predicted.event_data), hex_encode(logged[i]->data))
          << predicted.description;
    }
  }
}

TEST(DirectBoot, LoadOptionsAreWhatOvmfGivesTheKernel) {
  const auto options = ovmf_load_options("console=ttyS0", true);
  ASSERT_TRUE(options.has_value());
  const std::string text = "console=ttyS0 initrd=initrd";
  ASSERT_EQ(options->size(), 2 * (text.size() + 1));
  for (std::size_t i = 0; i < text.size(); ++i) {
    EXPECT_EQ((*options)[2 * i], static_cast<std::uint8_t>(text[i]));
    EXPECT_EQ((*options)[2 * i + 1], 0);
  }
  EXPECT_EQ(options->back(), 0);
  EXPECT_EQ((*options)[options->size() - 2], 0);

  EXPECT_FALSE(ovmf_load_options("", false).has_value());
  const auto initrd_only = ovmf_load_options("", true);
  ASSERT_TRUE(initrd_only.has_value());
  EXPECT_EQ(initrd_only->size(), 2 * (std::string_view(" initrd=initrd").size() + 1));
  EXPECT_EQ(ovmf_load_options("quiet", false)->size(), 12U);
}

TEST(DirectBoot, FromFilesEveryInputMovesItsRegisterOnly) {
  CCFDE_LOAD_TESTDATA(kernel, "debian/fwupdx64.efi.signed");
  const std::vector<std::uint8_t> initrd(5000, 0x42);
  auto base = predict_direct_boot(kernel, initrd, "console=ttyS0 root=/dev/vda");
  ASSERT_TRUE(base.ok()) << base.status().to_string();

  auto kernel_digest = authenticode_digest(kernel, DigestAlgorithm::kSha384);
  ASSERT_TRUE(kernel_digest.ok());
  EXPECT_EQ(base->events.front().digest, *kernel_digest);
  EXPECT_EQ(base->events[3].description, "Linux initrd");
  EXPECT_EQ(base->events[3].digest, *digest(DigestAlgorithm::kSha384, initrd));
  ASSERT_EQ(base->events.size(), 6U);

  // Each input changed alone: which registers move.
  auto other_initrd = initrd;
  other_initrd[4999] ^= 1;
  auto other_kernel = kernel;
  other_kernel[0x400] ^= 1;
  struct Change {
    const char* what;
    const std::vector<std::uint8_t>& kernel_image;
    const std::vector<std::uint8_t>& initrd_image;
    const char* cmdline;
    bool rtmr1_moves;
  };
  for (const Change& change : {
           Change{"an extra command-line word", kernel, initrd,
                  "console=ttyS0 root=/dev/vda single", false},
           Change{"one initrd bit", kernel, other_initrd, "console=ttyS0 root=/dev/vda", false},
           Change{"one kernel bit", other_kernel, initrd, "console=ttyS0 root=/dev/vda", true},
       }) {
    auto changed = predict_direct_boot(change.kernel_image, change.initrd_image, change.cmdline);
    ASSERT_TRUE(changed.ok()) << change.what << ": " << changed.status().to_string();
    EXPECT_EQ(changed->rtmr1 != base->rtmr1, change.rtmr1_moves) << change.what;
    EXPECT_EQ(changed->rtmr2 != base->rtmr2, !change.rtmr1_moves) << change.what;
  }

  auto no_initrd = predict_direct_boot(kernel, std::nullopt, "console=ttyS0 root=/dev/vda");
  ASSERT_TRUE(no_initrd.ok());
  EXPECT_EQ(no_initrd->events.size(), 5U);

  auto not_pe = predict_direct_boot(initrd, initrd, "x");
  EXPECT_EQ(not_pe.status().code(), ErrorCode::kMalformed);
  EXPECT_NE(not_pe.status().message().find("kernel"), std::string::npos);
}

}  // namespace
}  // namespace ccfde::measure
