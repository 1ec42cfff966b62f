# tb_set_sanitizers(target): apply TB_SANITIZE (e.g. "address,undefined" or "thread") to one target.
function(tb_set_sanitizers target)
    if(TB_SANITIZE)
        target_compile_options(${target} PRIVATE -fsanitize=${TB_SANITIZE} -fno-omit-frame-pointer
                                                 -fno-sanitize-recover=undefined)
        target_link_options(${target} PRIVATE -fsanitize=${TB_SANITIZE})
        get_target_property(type ${target} TYPE)
        if(TB_SANITIZE MATCHES "address" AND type STREQUAL "EXECUTABLE")
            # A position-independent ASan+UBSan executable carries millions of relative
            # relocations (the sanitizers' metadata); applying them at every start cost about
            # 0.2 s per process (testbed --version: 0.46 s PIE, 0.24 s not). The tests start
            # thousands of processes, so sanitizer executables are linked at a fixed address.
            target_link_options(${target} PRIVATE -no-pie)
        endif()
        if(TB_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
            # gcc 12 warns (-Wtsan) at every std::atomic_thread_fence it sees with ThreadSanitizer;
            # the fences are in Boost.Asio/Beast headers, not our code, and with warnings as errors
            # the build would stop there. TSan does not model fences, so a race hidden behind one
            # could be missed or misreported; docs/reliability.md says so.
            target_compile_options(${target} PRIVATE -Wno-tsan)
        endif()
    endif()
endfunction()

# tb_project_target(target): warnings + sanitizers, the settings every project target gets.
function(tb_project_target target)
    tb_set_warnings(${target})
    tb_set_sanitizers(${target})
endfunction()
