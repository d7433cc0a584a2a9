# Hardening flags for shipped binaries (not for tests): PIE, stack protector, FORTIFY, full RELRO.
add_library(ccfde_hardening INTERFACE)
target_compile_options(ccfde_hardening INTERFACE
  -fstack-protector-strong -fstack-clash-protection -fcf-protection
  $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
target_link_options(ccfde_hardening INTERFACE
  -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
