# tb_set_warnings(target): the project's warning set, per target (never via CMAKE_CXX_FLAGS).
# Warnings are errors in project code through the CMAKE_COMPILE_WARNING_AS_ERROR preset setting.
function(tb_set_warnings target)
    if(MSVC)
        target_compile_options(${target} PRIVATE /W4)
    else()
        target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                                 -Wno-sign-conversion)
        if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
            target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wthread-safety>)
        endif()
    endif()
endfunction()
