# SPDX-License-Identifier: Apache-2.0
# Hardening. The compile flags apply to every target: the static libraries end up inside the
# shipped programs and the token plugin, so they must be built hardened too (FORTIFY needs an
# optimised build, hence not in Debug). The link flags (PIE, full RELRO, no executable stack) go
# to the shipped executables through ccfde_hardening; the plugin sets its own (it is a module).
add_compile_options(-fstack-protector-strong -fstack-clash-protection -fcf-protection
  $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)

add_library(ccfde_hardening INTERFACE)
target_link_options(ccfde_hardening INTERFACE
  -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
