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

# corpus/manifest.json: two small domains (code, prose) of 8 one-line documents each.
make_small_corpus() {
  mkdir -p corpus/a corpus/b
  for i in $(seq 1 8); do
    printf 'def f%d(x):\n    return x * %d + 1\n\n' "$i" "$i" > corpus/a/doc$i.py
    printf 'In the beginning number %d was the word, and the word was %d.\n' "$i" "$i" > corpus/b/doc$i.txt
  done
  echo '{"domains": [{"name": "code", "files": ["a/*.py"]}, {"name": "prose", "files": ["b/*.txt"]}]}' > corpus/manifest.json
}
