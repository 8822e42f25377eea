# polymoe_embed(<out_var> <symbol> <input>): a build step that embeds <input> as a C array
# named <symbol> (see embed_file.cmake); appends the generated .c file to <out_var>.
function(polymoe_embed out_var symbol input)
  set(output "${CMAKE_CURRENT_BINARY_DIR}/embedded/${symbol}.c")
  add_custom_command(
    OUTPUT "${output}"
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DSYMBOL=${symbol}
            -P "${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake"
    DEPENDS "${input}" "${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake"
    COMMENT "Embedding ${input}")
  set(${out_var} ${${out_var}} "${output}" PARENT_SCOPE)
endfunction()

# polymoe_backend_option(<NAME> <found>): resolves POLYMOE_<NAME> (AUTO/ON/OFF) into
# POLYMOE_WITH_<NAME>; ON without the SDK stops configure with <why>.
function(polymoe_backend_option name found why)
  set(value "${POLYMOE_${name}}")
  if(value STREQUAL "ON" AND NOT found)
    message(FATAL_ERROR "POLYMOE_${name}=ON but ${why}")
  endif()
  if(found AND NOT value STREQUAL "OFF")
    set(POLYMOE_WITH_${name} ON PARENT_SCOPE)
    message(STATUS "polymoe: ${name} backend ON")
  elseif(found)
    set(POLYMOE_WITH_${name} OFF PARENT_SCOPE)
    message(STATUS "polymoe: ${name} backend OFF (POLYMOE_${name}=OFF)")
  else()
    set(POLYMOE_WITH_${name} OFF PARENT_SCOPE)
    message(STATUS "polymoe: ${name} backend OFF (${why})")
  endif()
endfunction()
