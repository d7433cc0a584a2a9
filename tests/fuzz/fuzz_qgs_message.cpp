// SPDX-License-Identifier: Apache-2.0
// Fuzzes the decoder of quote generation service (QGS) responses read from vsock.
#include "ccfde/measure/tdx_guest_device.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)ccfde::measure::decode_qgs_get_quote_response({data, size});
  return 0;
}
