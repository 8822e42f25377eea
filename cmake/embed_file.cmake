# Turns one file into a C source holding it as a byte array (run with cmake -P):
#   -DINPUT=file -DOUTPUT=file.c -DSYMBOL=name
# The array ends with a 0 byte so text (OpenCL C) can be used as a string; SYMBOL_size
# excludes that byte.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "/* generated from ${INPUT}; do not edit */\n#include <stddef.h>\n"
     "const unsigned char ${SYMBOL}[] = {\n${bytes}0x00};\nconst size_t ${SYMBOL}_size = ${size};\n")
