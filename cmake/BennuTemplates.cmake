# bennu_templates(TARGET FILES file.html.bnx... [INCLUDE dir...] [VERIFY_ROUTES])
#
# Compiles each template with bennu-tpl into
# ${CMAKE_CURRENT_BINARY_DIR}/<target>_templates/<name>.html.{c,h} (<name>:
# the file name up to its first dot, prefixed by its directory when that
# ends in _html: page_html/home.html.bnx -> page_html_home) and adds
# them to TARGET; the directory goes on TARGET's include path, so code
# includes "page.html.h". Only changed templates are recompiled (bennu-tpl
# writes a depfile naming every template a file imports). A template error
# fails the build with FILE:LINE:COL: error: ...
#
# VERIFY_ROUTES runs `TARGET routes --verify` after linking: a ~p"..." path
# that matches no route removes the program and fails the build.
function(bennu_templates target)
  cmake_parse_arguments(T "VERIFY_ROUTES" "" "FILES;INCLUDE" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_templates)
  file(MAKE_DIRECTORY ${out})
  set(include_args)
  foreach(dir ${T_INCLUDE})
    get_filename_component(dir ${dir} ABSOLUTE)
    list(APPEND include_args -I ${dir})
  endforeach()
  foreach(file ${T_FILES})
    get_filename_component(abs ${file} ABSOLUTE)
    get_filename_component(name ${file} NAME)
    string(REGEX REPLACE "\\..*$" "" base ${name})
    # page_html/home.html.bnx is page_html_home, as bennu-tpl names it.
    get_filename_component(dir ${abs} DIRECTORY)
    get_filename_component(dir ${dir} NAME)
    # The same rule as file_base() in src/template/compiler/module.c.
    if(dir MATCHES ".+_html$")
      set(base "${dir}_${base}")
    endif()
    string(REGEX REPLACE "[^A-Za-z0-9_]" "_" base ${base})
    set(base "${base}.html")
    add_custom_command(
      OUTPUT ${out}/${base}.c ${out}/${base}.h
      COMMAND bennu_tpl -o ${out} ${include_args} -M ${out}/${base}.d ${abs}
      DEPENDS ${abs} bennu_tpl
      DEPFILE ${out}/${base}.d
      COMMENT "bennu-tpl ${name}"
      VERBATIM)
    target_sources(${target} PRIVATE ${out}/${base}.c ${out}/${base}.h)
  endforeach()
  target_include_directories(${target} PRIVATE ${out})
  if(T_VERIFY_ROUTES)
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND sh -c "\"$0\" routes --verify || { rm -f \"$0\"; exit 1; }" $<TARGET_FILE:${target}>
      VERBATIM)
  endif()
endfunction()
