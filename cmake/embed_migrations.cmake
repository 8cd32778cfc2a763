# Turns db/NNN_name.sql files into a C table: { version, name, sql }.
#
# One directive: a line "-- @load rules/<file>.json" in a migration is
# replaced by "SELECT ecm_rule_set_load($ecm_rules$<file text>$ecm_rules$::jsonb);"
# (the path is relative to ROOT, the source tree; default: the parent of the
# migration's folder), so a shipped rule set is kept as a readable file and
# loaded by the migration that names it. A missing file, a path outside rules/
# or a file holding the dollar-quote tag stops the build.
set(body "/* Generated from db/NNN_name.sql files by cmake/embed_migrations.cmake. Do not edit. */\n")
string(APPEND body "#include \"ecm_migrate.h\"\n\nconst ecm_migration ecm_migrations[] = {\n")
set(count 0)
set(tag "$ecm_rules$")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version "${name}")
  if(version STREQUAL "")
    message(FATAL_ERROR "migration ${f} does not start with a number")
  endif()
  math(EXPR version "${version} + 0")
  file(READ ${f} sql)
  if(sql MATCHES "@load")
    if(DEFINED ROOT)
      set(root "${ROOT}")
    else()
      get_filename_component(dir ${f} DIRECTORY)
      get_filename_component(root ${dir} DIRECTORY)
    endif()
    # Every comment line that starts with @load must be exactly the directive.
    string(REGEX MATCHALL "\n--[ \t]*@load[^\n]*" lines "\n${sql}")
    foreach(line IN LISTS lines)
      string(SUBSTRING "${line}" 1 -1 line)
      if(NOT line MATCHES "^-- @load (rules/[A-Za-z0-9_.-]+\\.json)[ \t\r]*$")
        message(FATAL_ERROR "${f}: \"${line}\" is not \"-- @load rules/<file>.json\"")
      endif()
      set(path "${CMAKE_MATCH_1}")
      if(NOT EXISTS "${root}/${path}")
        message(FATAL_ERROR "${f}: ${path} (named by @load) does not exist under ${root}")
      endif()
      file(READ "${root}/${path}" json)
      string(FIND "${json}" "${tag}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "${root}/${path} holds ${tag}, the quote @load wraps it in")
      endif()
      string(REPLACE "${line}" "-- ${path}\nSELECT ecm_rule_set_load(${tag}${json}${tag}::jsonb);"
                     sql "${sql}")
    endforeach()
  endif()
  string(HEX "${sql}" sql)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" sql "${sql}")
  # Split the escaped string into short literal chunks to keep lines readable.
  string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){32})" "\\1\"\n    \"" sql "${sql}")
  string(APPEND body "  {${version}, \"${name}\",\n    \"${sql}\"},\n")
  math(EXPR count "${count} + 1")
endforeach()
string(APPEND body "};\nconst size_t ecm_migrations_count = ${count};\n")
file(WRITE ${OUT} "${body}")
