# Turns one file into a C byte array: const unsigned char NAME[] and
# const size_t NAME_len (the file's size; the array is not NUL-terminated).
#   cmake -DIN=file -DOUT=out.c -DNAME=symbol -P cmake/embed_file.cmake
include(${CMAKE_CURRENT_LIST_DIR}/embed_bytes.cmake)
ecm_embed_bytes(${IN} bytes len)
get_filename_component(src ${IN} NAME)
file(WRITE ${OUT}
  "/* Generated from ${src} by cmake/embed_file.cmake. Do not edit. */\n"
  "#include <stddef.h>\n\n"
  "const unsigned char ${NAME}[] = {\n    ${bytes}\n};\n"
  "const size_t ${NAME}_len = ${len};\n")
