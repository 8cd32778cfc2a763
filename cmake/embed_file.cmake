# Turns one file into a C byte array: const unsigned char NAME[] and
# const size_t NAME_len (the file's size; the array is not NUL-terminated).
#   cmake -DIN=file -DOUT=out.c -DNAME=symbol -P cmake/embed_file.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
if(len EQUAL 0)
  set(hex "00")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
get_filename_component(src ${IN} NAME)
file(WRITE ${OUT}
  "/* Generated from ${src} by cmake/embed_file.cmake. Do not edit. */\n"
  "#include <stddef.h>\n\n"
  "const unsigned char ${NAME}[] = {\n    ${bytes}\n};\n"
  "const size_t ${NAME}_len = ${len};\n")
