# Sourced by the shell tests: the polymoe binary from $1, a scratch folder removed on exit
# (and made the working directory), pass/FAIL rows and the closing tally line.
set -u
pm=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
passed=0 failed=0
ok() { echo "pass  $1"; passed=$((passed + 1)); }
bad() { echo "FAIL  $1"; failed=$((failed + 1)); }
# Prints the tally and exits non-zero when anything failed.
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
