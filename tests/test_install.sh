#!/usr/bin/env bash
# cmake --install of this build into a scratch prefix, then an out-of-tree project
# (tests/install) that does find_package(polymoe), links polymoe::backends and runs a GEMM.
# usage: test_install.sh BUILD_DIR SOURCE_DIR [C_FLAGS]   (C_FLAGS: the sanitizers of a sanitizer build)
set -u
build=$(realpath "$1") src=$(realpath "$2") cflags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
step() { # name command...
  local name=$1; shift
  if "$@" > "$work/log" 2>&1; then echo "pass  $name"; passed=$((passed + 1))
  else echo "FAIL  $name: $(tail -5 "$work/log")"; failed=$((failed + 1)); fi
}
step "cmake --install" cmake --install "$build" --prefix "$work/prefix"
step "the installed polymoe runs" "$work/prefix/bin/polymoe" devices
step "configure a project with find_package(polymoe)" cmake -S "$src/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$cflags"
step "build it against polymoe::backends" cmake --build "$work/consumer"
step "run it (a GEMM on the cpu backend)" "$work/consumer/consumer"
# The GPU backends are modules installed beside the library: they load from there, and a broken
# one leaves its backend with no device and the loader's reason; opening it is an error (exit 1).
polymoe=$work/prefix/bin/polymoe
step "the installed GPU modules load" bash -c 'out=$("$0" devices) && ! grep "cannot load module" <<< "$out"' "$polymoe"
module=$(find "$work/prefix" -name 'libpolymoe_*.so' ! -name 'libpolymoe_backends.so' | head -1)
if [ -n "$module" ]; then
    name=${module##*/libpolymoe_} name=${name%.so}
    echo "not a module" > "$module"
    step "a broken $name module: devices says why" bash -c '"$0" devices | grep -A1 "^$1:$" | grep "unavailable: cannot load module libpolymoe_$1.so: .*file too short"' "$polymoe" "$name"
    step "a broken $name module: opening it is an error" bash -c 'out=$("$0" train --backend "$1" --steps 1 --out "$2" 2>&1); [ $? -eq 1 ] && grep "backend $1: no device: cannot load module" <<< "$out"' "$polymoe" "$name" "$work/run"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
