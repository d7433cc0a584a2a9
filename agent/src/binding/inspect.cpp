// SPDX-License-Identifier: Apache-2.0
// test and list: read-only operations.
#include "steps.h"

namespace ccfde::agent {

Result<TestResult> test_binding(const std::filesystem::path& device, std::optional<int> token_id,
                                const BindingContext& context) {
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  CCFDE_ASSIGN_OR_RETURN(auto tokens, binding::read_tokens(volume));
  CCFDE_ASSIGN_OR_RETURN(auto selected, binding::select_token(tokens, token_id));
  CCFDE_ASSIGN_OR_RETURN(const BrokerProfile* profile,
                         context.config.profile(selected.token.profile));
  if (selected.token.state != TokenState::kComplete) {
    return binding::unfinished_operation_error(volume, selected);
  }
  auto key = binding::fetch_token_key(context, *profile, selected.token);
  if (!key.ok()) return key.status();
  CCFDE_ASSIGN_OR_RETURN(auto opened,
                         binding::keyslot_opened_by(volume, key->span(), selected.token.keyslots));
  if (!opened) {
    return make_error(ErrorCode::kKeyRejected,
                      "the key of {} from profile {} opens none of token {}'s keyslots ({})",
                      selected.token.resource, selected.token.profile, selected.id,
                      binding::join_keyslots(selected.token.keyslots));
  }
  return TestResult{volume.uuid(), selected.id, *opened, selected.token.profile,
                    selected.token.resource};
}

Result<VolumeListing> list(const std::filesystem::path& device) {
  CCFDE_ASSIGN_OR_RETURN(auto volume, LuksVolume::open(device));
  VolumeListing listing;
  listing.uuid = volume.uuid();
  listing.data_offset_bytes = volume.data_offset_bytes();
  listing.reencryption_in_progress = volume.reencryption_in_progress();
  listing.keyslots = volume.active_keyslots();
  for (int slot : listing.keyslots) listing.keyslot_pbkdfs[slot] = volume.keyslot_pbkdf(slot);
  CCFDE_ASSIGN_OR_RETURN(listing.tokens, binding::read_tokens(volume));
  return listing;
}

}  // namespace ccfde::agent
