# SPDX-License-Identifier: Apache-2.0
# The fuzz targets and their seeds (paths below CCFDE_TESTDATA_DIR).
ccfde_add_fuzzer(tdx_quote LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS go-tdx-guest/tdx_prod_quote_SPR_E4.dat go-tdx-guest/quote_v5_sample.dat
        go-tdx-guest/cos-113-tdx-quote.dat trustee/deps/verifier/test_data/tdx_quote_4.dat
        evidence-api/quote.bin)
ccfde_add_fuzzer(snp_report LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS trustee/deps/verifier/test_data/snp/test-report.bin)
ccfde_add_fuzzer(ccel_table LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS go-tdx-guest/ccel_table.dat trustauthority-client-for-go/CCEL.bin)
ccfde_add_fuzzer(tcg_event_log LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS trustee/deps/eventlog/test_data/CCEL_AAEL_alibabacloud
        trustauthority-client-for-go/CCEL.data.bin trustee/deps/eventlog/test_data/CCEL_data_ovmf
        go-eventlog/cos-101-amd-sev.bin)
ccfde_add_fuzzer(ima_log LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS evidence-api/ima_log.bin)
ccfde_add_fuzzer(qgs_message LIBS ccfde::measure
  SEEDS go-tdx-guest/cos-113-tdx-quote.dat)
ccfde_add_fuzzer(az_snp_vtpm LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS trustee/deps/verifier/test_data/az-snp-vtpm/evidence-v2.json)
ccfde_add_fuzzer(jwe LIBS ccfde_kbs_client_crypto nlohmann_json::nlohmann_json
  SEEDS constructed/kbs-constructed-vectors.json SYNTHETIC_SEEDS)
ccfde_add_fuzzer(trustee_messages LIBS ccfde_kbs_client_trustee nlohmann_json::nlohmann_json
  SYNTHETIC_SEEDS)
ccfde_add_fuzzer(agent_inputs LIBS ccfde_agent_luks ccfde_agent_config SYNTHETIC_SEEDS)
ccfde_add_fuzzer(ita_messages LIBS ccfde_kbs_client_ita nlohmann_json::nlohmann_json
  SYNTHETIC_SEEDS)
ccfde_add_fuzzer(ita_wrapped_key LIBS ccfde_kbs_client_ita SYNTHETIC_SEEDS)
ccfde_add_fuzzer(ear_claims LIBS ccfde_kbs_client_trustee nlohmann_json::nlohmann_json
  SYNTHETIC_SEEDS)
ccfde_add_fuzzer(pe_authenticode LIBS ccfde::measure SEEDS debian/fwupdx64.efi.signed)
ccfde_add_fuzzer(snp_launch_digest LIBS ccfde::measure
  SEEDS virtee-sev-snp-measure/ovmf_AmdSev_suffix.bin virtee-sev-snp-measure/ovmf_OvmfX64_suffix.bin)
ccfde_add_fuzzer(init_data LIBS ccfde_kbs_client_trustee SYNTHETIC_SEEDS)
ccfde_add_fuzzer(confdata LIBS ccfde_kbs_client_trustee SYNTHETIC_SEEDS)
ccfde_add_fuzzer(smbios_oem_strings LIBS ccfde_kbs_client_trustee SYNTHETIC_SEEDS)
ccfde_add_fuzzer(tdx_collateral LIBS ccfde::measure nlohmann_json::nlohmann_json
  SEEDS go-tdx-guest/collateral/sample_tcbInfo_response
        go-tdx-guest/collateral/sample_qeIdentity_response
        go-tdx-guest/collateral/sample_tcbinfo_response_v5)
