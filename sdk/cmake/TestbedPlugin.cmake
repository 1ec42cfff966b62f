# testbed_add_plugin(<name> SOURCES <file>... [OUTPUT_DIRECTORY <dir>])
#
# Builds a testbed plugin: a MODULE library named exactly <name>.so (no "lib" prefix), linked only
# against testbed::sdk, with hidden symbol visibility so that the one exported symbol is the
# tb_plugin_entry that TB_PLUGIN() emits.
include_guard(GLOBAL)
function(testbed_add_plugin name)
    cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY" "SOURCES")
    if(NOT ARG_SOURCES)
        set(ARG_SOURCES ${ARG_UNPARSED_ARGUMENTS})
    endif()
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "testbed_add_plugin(${name}): no SOURCES given")
    endif()
    add_library(${name} MODULE ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE testbed::sdk)
    set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                          CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
    if(ARG_OUTPUT_DIRECTORY)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
    elseif(DEFINED TB_PLUGIN_OUTPUT_DIRECTORY)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${TB_PLUGIN_OUTPUT_DIRECTORY})
    endif()
    if(COMMAND tb_project_target)
        tb_project_target(${name})
    elseif(NOT MSVC)
        target_compile_options(${name} PRIVATE -Wall -Wextra)
    endif()
endfunction()
