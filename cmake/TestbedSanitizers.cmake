# tb_set_sanitizers(target): apply TB_SANITIZE (e.g. "address,undefined" or "thread") to one target.
function(tb_set_sanitizers target)
    if(TB_SANITIZE)
        target_compile_options(${target} PRIVATE -fsanitize=${TB_SANITIZE} -fno-omit-frame-pointer
                                                 -fno-sanitize-recover=undefined)
        target_link_options(${target} PRIVATE -fsanitize=${TB_SANITIZE})
    endif()
endfunction()

# tb_project_target(target): warnings + sanitizers, the settings every project target gets.
function(tb_project_target target)
    tb_set_warnings(${target})
    tb_set_sanitizers(${target})
endfunction()
