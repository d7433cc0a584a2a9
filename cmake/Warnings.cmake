# Warnings as errors for project code only, applied per target through an INTERFACE library.
add_library(ccfde_warnings INTERFACE)
target_compile_options(ccfde_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wnull-dereference
  -Werror=unused-result -Werror)
