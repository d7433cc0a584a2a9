# CCFDE_SANITIZE=address,undefined instruments every target; errors abort (no recovery).
if(CCFDE_SANITIZE)
  add_compile_options(-fsanitize=${CCFDE_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${CCFDE_SANITIZE})
endif()
