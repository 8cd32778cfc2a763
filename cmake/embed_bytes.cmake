# ecm_embed_bytes(FILE BYTES_VAR LEN_VAR): FILE's bytes as C array
# initialiser text ("0x41,0x42,..." sixteen a line) and their count; an
# empty file gives one 0x00 (a C array cannot be empty) and length 0.
# Included by embed_file.cmake and embed_web.cmake.
function(ecm_embed_bytes file bytes_var len_var)
  file(READ ${file} hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR len "${digits} / 2")
  if(len EQUAL 0)
    set(hex "00")
  endif()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
  set(${bytes_var} "${bytes}" PARENT_SCOPE)
  set(${len_var} ${len} PARENT_SCOPE)
endfunction()
