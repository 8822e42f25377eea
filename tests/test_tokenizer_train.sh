#!/usr/bin/env bash
# polymoe tokenizer train against Hugging Face tokenizers: on all documents of the default
# corpus, 512 and 4096 tokens give the very files of tests/fixtures/bpe (made by tokenizers'
# BpeTrainer, scripts/make_bpe_fixtures.py), and bad input gives a clear error.
# usage: test_tokenizer_train.sh PATH/TO/polymoe SOURCE_DIR
src=$(realpath "$2")
source "$(dirname "$0")/testlib.sh"
fixtures=$src/tests/fixtures/bpe

# the default corpus: the source tree's when it is there, else polymoe builds it here
if [ -f "$src/data/default/manifest.json" ]; then
  data=(--data "$src/data/default/manifest.json")
else
  data=()
fi

identity() { "$pm" tokenizer info --tokenizer "$1" 2>&1 | awk '/^identity/ {print $2}'; }

for n in 512 4096; do
  if ! "$pm" tokenizer train --split all --vocab $n --out v$n "${data[@]}" > train$n.log 2>&1; then
    bad "train --vocab $n: $(tail -3 train$n.log)"
    continue
  fi
  for f in merges.txt vocab.json tokenizer.json; do
    cmp -s v$n/$f "$fixtures/v$n/$f" && ok "v$n/$f is byte-identical to tokenizers'" \
      || bad "v$n/$f differs from $fixtures/v$n/$f: $(cmp v$n/$f "$fixtures/v$n/$f" 2>&1 | head -1)"
  done
  mine=$(identity v$n) theirs=$(identity "$fixtures/v$n")
  [ -n "$mine" ] && [ "$mine" = "$theirs" ] && ok "v$n loads with the fixture's identity $mine" \
    || bad "v$n identity '$mine', fixture '$theirs'"
done

# the default split: the train documents only, a usable tokenizer that round-trips text
if "$pm" tokenizer train --vocab 600 --out split "${data[@]}" > split.log 2>&1 && grep -q "train split" split.log \
   && ! cmp -s split/merges.txt v4096/merges.txt; then
  ok "train split by default"
else
  bad "train split: $(tail -3 split.log)"
fi
text=$'def f(x):\n    return x ** 2  # Ünïcödé, 3.14 and the LORD said\n'
ids=$(printf '%s' "$text" | "$pm" tokenizer encode --tokenizer split 2>&1)
back=$(echo "$ids" | "$pm" tokenizer decode --tokenizer split 2>&1; echo x)
[ "${back%x}" = "$text" ] && ok "the trained tokenizer round-trips text ($(wc -w <<<"$ids") tokens)" \
  || bad "round trip: ids '$ids' gave '${back%x}'"

# bad input: a non-zero exit, a message naming the problem, no sanitizer report
expect_error() { # name pattern command...
  local name=$1 pattern=$2; shift 2
  local msg rc
  msg=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi -- "$pattern" <<<"$msg" && ! grep -q "Sanitizer" <<<"$msg"; then
    ok "$name"
  else
    bad "$name (exit $rc): $(head -3 <<<"$msg")"
  fi
}
expect_error "vocabulary too small" "too small" "$pm" tokenizer train --vocab 256 --out small "${data[@]}"
expect_error "vocabulary not a number" "whole number" "$pm" tokenizer train --vocab 5k --out small "${data[@]}"
expect_error "missing manifest" "nowhere/manifest.json" "$pm" tokenizer train --vocab 1000 --out m --data nowhere/manifest.json
expect_error "no --out" "required" "$pm" tokenizer train --vocab 1000
expect_error "unknown split" "train or all" "$pm" tokenizer train --vocab 1000 --out s --split eval
expect_error "unknown option" "unknown option" "$pm" tokenizer train --vocab 1000 --out s --frobnicate
expect_error "existing vocabulary without --overwrite" "overwrite" "$pm" tokenizer train --vocab 512 --out v512 "${data[@]}"
: > afile
expect_error "--out is a file" "not a folder" "$pm" tokenizer train --vocab 512 --out afile "${data[@]}"
mkdir -p tiny && printf 'ab' > tiny/a.txt && printf 'ba' > tiny/b.txt
echo '{"domains": [{"name": "x", "files": ["a.txt"]}]}' > tiny/one.json
expect_error "a domain of one document" "at least 2" "$pm" tokenizer train --vocab 300 --out t1 --data tiny/one.json

# --overwrite replaces it; text that runs out of pairs gives fewer tokens than asked
echo '{"domains": [{"name": "x", "files": ["a.txt", "b.txt"]}]}' > tiny/two.json
if "$pm" tokenizer train --split all --vocab 300 --out v512 --overwrite --data tiny/two.json > over.log 2>&1 \
   && grep -q "vocabulary 259 tokens (fewer than asked" over.log && [ "$(wc -l < v512/merges.txt)" -eq 3 ]; then
  ok "--overwrite replaces the vocabulary; a corpus without pairs left stops early"
else
  bad "--overwrite: $(tail -3 over.log)"
fi

finish
