// SPDX-License-Identifier: Apache-2.0
// Where a profile's Trustee init-data comes from (EvidenceConfig's init_data or init_data_smbios),
// for make_key_broker and fdectl. Apart from key_broker.h because it names kbs-client's InitData,
// which the other agent parts do not see.
#pragma once

#include <optional>

#include "ccfde/agent/config.h"
#include "ccfde/common/status.h"
#include "ccfde/kbs-client/init_data.h"

namespace ccfde::agent {

// The init-data `evidence` names: the file `init_data`, or the SMBIOS credential
// `init_data_smbios` (read below `platform_root`'s /sys/firmware/dmi/entries); std::nullopt when
// neither is set. Errors: those of kbs_client::read_init_data_file and
// kbs_client::read_init_data_smbios.
Result<std::optional<kbs_client::InitData>> load_init_data(const EvidenceConfig& evidence);

}  // namespace ccfde::agent
