#!/usr/bin/env python3
"""Make the committed GPT-2 byte-level BPE fixtures in tests/fixtures/bpe/.

For each requested vocabulary size N in (512, 4096, 50257) it trains a byte-level BPE with
Hugging Face `tokenizers` on every document of the corpus (manifest order), saves it as
tokenizer.json + vocab.json + merges.txt (vN/, or vN.tar.xz for the big one), encodes every
document and an adversarial set with two independent references (`tokenizers` and `tiktoken`,
built from the same files), and writes what a C test needs to check polymoe's encoder token
for token without Python:

  corpus.txt        <domain> <index> <fnv1a32 of the document's UTF-8 bytes>, one per document
  vN.expected       <fnv1a32 of the ids as int32 LE> <number of ids>, one per document
  adversarial.txt   one case per line, its bytes in lowercase hex (empty line: empty string)
  vN.adversarial    one line per case, the expected ids space-separated
  DISAGREEMENTS.md  where the two references differ (the expected values are tokenizers')
  README.md         the formats, and the rule for invalid UTF-8

Needs the Python packages tokenizers and tiktoken: test-time tools for making fixtures only,
never a runtime dependency of polymoe. Deterministic: rerunning gives identical files.

    python3 scripts/make_bpe_fixtures.py [--corpus data/default] [--out tests/fixtures/bpe]
"""
import argparse
import io
import json
import lzma
import os
import shutil
import struct
import sys
import tarfile
import tempfile
import zlib

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
import tiktoken
import tokenizers

SIZES = (512, 4096, 50257)
TARRED = (50257,)          # stored as vN.tar.xz instead of a folder of plain files
EOT = "<|endoftext|>"
GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
FILES = ("merges.txt", "tokenizer.json", "vocab.json")


# ---------------------------------------------------------------------------------------------
# small helpers

def fnv1a32(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def ids_hash(ids):
    return fnv1a32(struct.pack("<%di" % len(ids), *ids))


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()
U2B = {u: b for b, u in B2U.items()}


def load_corpus(corpus):
    """[(domain, index within domain, text)] in manifest order."""
    with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    docs = []
    for dom in manifest["domains"]:
        field = dom.get("text_field", "text")
        i = 0
        for name in dom["jsonl"]:
            with open(os.path.join(corpus, name), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    docs.append((dom["name"], i, json.loads(line)[field]))
                    i += 1
    return docs


def split_runs(data):
    """Maximal runs of valid UTF-8 (as str) and single invalid bytes (as int), in order."""
    out, cur = [], []
    for ch in data.decode("utf-8", "surrogateescape"):
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            if cur:
                out.append("".join(cur))
                cur = []
            out.append(ord(ch) - 0xDC00)
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def show(data, off, width=24):
    lo, hi = max(0, off - width), min(len(data), off + width)
    return repr(data[lo:off]) + " | " + repr(data[off:hi])


# ---------------------------------------------------------------------------------------------
# adversarial cases

class Rng:
    """A 64-bit LCG, so that the random-ish cases do not depend on Python's random module."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return (self.s >> 33) % n


def adversarial_cases():
    u = lambda s: s.encode("utf-8")
    c = [b""]
    # single characters (1-4 byte UTF-8, whitespace, punctuation, digits)
    c += [u(s) for s in ["a", "Z", " ", "\n", "\t", "!", "0", "'", "é", "€", "😀", "\x00", "\x7f",
                         "中", "ß"]]
    # mixed scripts in one string
    c += [u("Hello Привет Γειά σου 你好世界 مرحبا שלום नमस्ते สวัสดี"),
          u("abcПриветxyz你好مرحبا123שלום"), u("Ελληνικά και English και русский")]
    # emoji and other 4-byte UTF-8
    c += [u(s) for s in ["😀", "hello😀world", "😀 😀  😀", "👨\u200d👩\u200d👧\u200d👦", "🇺🇸🇫🇷🇯🇵",
                         "👍🏽 👍🏿", "🏳️\u200d🌈", "𝕳𝖊𝖑𝖑𝖔 𝔀𝓸𝓻𝓵𝓭", "𐍈𐌰𐌹", "𝟘𝟙𝟚 123"]]
    # combining marks, Hangul
    c += [u(s) for s in ["e\u0301", "cafe\u0301 caf\u00e9", "a\u0301\u0302\u0303\u0304\u0305",
                         "Z\u0334\u0321\u0322\u0348\u0326\u0317\u0359\u032c\u0306\u030c\u0310",
                         " \u0301", "\u0301\u0301", "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
                         "한국어 텍스트", "x\u0308y\u0308"]]
    # whitespace runs
    c += [u(s) for s in [" ", "  ", "   ", " " * 100, " " * 5000, "\t\t\t", "\n\n\n", "\r\n",
                         "a\r\nb\r\n", " \t \n \r\n  \t", "hello   ", "hello \n", "   a", "   1",
                         "   !", "a   b", "a\n\n  b", "\tdef", "x \t", "  \n  \n"]]
    # Unicode whitespace edge cases, alone, between letters and in runs
    ws = [0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + \
        [0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x180E, 0x200B, 0xFEFF, 0x1C, 0x1D, 0x1E, 0x1F]
    for cp in ws:
        ch = chr(cp)
        c.append(u("a" + ch + "b"))
    c += [u(chr(cp)) for cp in (0x85, 0xA0, 0x3000, 0x200B, 0xFEFF, 0x1C)]
    c += [u("a " + chr(cp) + " b" + chr(cp) + chr(cp) + "1") for cp in (0x85, 0xA0, 0x2009, 0x3000,
                                                                          0x180E, 0x200B, 0x1F)]
    c += [u("x" + chr(cp) * 3 + " y") for cp in (0xA0, 0x2028, 0xFEFF, 0x1D)]
    # digits next to letters
    c += [u(s) for s in ["abc123def", "3x", "x2y", "١٢٣ ٤٥", "abc١٢٣", "１２３ｘ", "½", "²", "x²+y²",
                         "Ⅻ", "Ⅻth", "1234567890", " 42", "3.14159", "v1.2.3-rc4", "0x1F"]]
    # contractions
    c += [u(s) for s in ["don't", "DON'T", "Don'T", "it's", "IT'S", "I'll", "I'LL", "we're", "WE'RE",
                         "you've", "YOU'VE", "I'm", "I'M", "he'd", "HE'D", "'s", "''s", "'S",
                         "\u2019s", "don\u2019t", "'s'", "rock'n'roll", "'ll've'd", " 's", "x 's",
                         "the cat's toy's", "'re're", "'", "''", "'1", "'t1"]]
    # punctuation runs
    c += [u(s) for s in ["!!!???...", "-->", "====", "a...b", "(([[{{}}]]))", " !@#$%^&*()",
                         "--- ---", "#!/usr/bin/env", "\"quoted\"", "..."]]
    # code and math
    c += [u("def f(x):\n    return x ** 2  # square\n\n\nclass A:\n\tpass\n"),
          u("if (a != b && c <= 0) { x += 1; }\n"),
          u("∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ = √(π·e) ≈ 2.92"),
          u("\\frac{a+b}{2} = \\int_0^1 f(x)\\,dx"),
          u("Solve 3x + 7 = 22.\nAnswer: x = 5\n")]
    # special token text
    c += [u(s) for s in [EOT, "a" + EOT + "b", EOT + EOT, " <|endoftext|> ", "<|endoftext|"]]
    # NUL and control bytes
    c += [b"a\x00b", b"\x00\x00\x00", b"\x01\x02\x03\x04", b"\x1b[31mred\x1b[0m", b"a\x08b\x0b\x0cc",
          b"\x7f\x7f x"]
    # invalid UTF-8
    c += [b"\x80", b"\xbf", b"\x80\x80\x80", b"ab\xc3", b"ab\xe2\x82", b"ab\xf0\x9f\x98",
          b"a\xc3b", b"a\xe2\x82b", b"a\xf0\x9f\x98b", b"a\xf0\x9f\x98 b", b"\xc0\xaf", b"\xe0\x80\xaf",
          b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"x\xed\xa0\x80\xed\xb0\x80y",
          b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xfe\xff", b"ab\xffcd",
          b"  \xff  x", b"12\x8034", b"hello\x80world", b"don\xff't", b"\xff's", b" \x80 ",
          b"\xc3\xa9\x80\xc3\xa9", b"\xe4\xb8\xad\xe4\xb8", b"\xc2", b"\xc2\xa0\xa0", b"\xe2\x80",
          b"   \xff", b"\xff   ", b"a\r\n\xff\r\nb", b"\xef\xbb\xbf\xff\xfe"]
    # random-ish mixes of everything above
    pool = [x for x in c if 0 < len(x) <= 64]
    rng = Rng(20250601)
    for n in (40, 200, 600, 1500):
        c.append(b"".join(pool[rng.below(len(pool))] for _ in range(n)))
    # and of single bytes
    for n in (300, 2000):
        c.append(bytes(rng.below(256) for _ in range(n)))
    return c


# ---------------------------------------------------------------------------------------------
# vocabularies and references

def train(n, docs):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=n, special_tokens=[EOT],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([t for _, _, t in docs], trainer=tr)
    return tok


class Refs:
    """The two references (plus tokenizers from vocab.json+merges.txt), all from one folder."""

    def __init__(self, d, n):
        self.hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        self.hf.encode_special_tokens = True
        self.hf2 = Tokenizer(models.BPE.from_file(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt")))
        self.hf2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        self.hf2.decoder = decoders.ByteLevel()
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        special = {a["content"]: a["id"] for a in tj["added_tokens"] if a["special"]}
        self.eot = special[EOT]
        with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
            self.vocab = json.load(f)
        self.size = self.hf.get_vocab_size()
        assert self.size == len(self.vocab), (self.size, len(self.vocab))
        ranks = {bytes(U2B[ch] for ch in s): i for s, i in self.vocab.items() if s not in special}
        self.tt = tiktoken.Encoding(name="polymoe-bpe-v%d" % n, pat_str=GPT2_PAT, mergeable_ranks=ranks,
                                    special_tokens=special)
        self.tok_bytes = {i: bytes(U2B[ch] for ch in s) for s, i in self.vocab.items()}
        self.byte_id = [self.vocab[B2U[b]] for b in range(256)]

    def encode(self, text):
        """(tokenizers' ids, ids from vocab.json+merges.txt, tiktoken's ids)."""
        return self.hf.encode(text).ids, self.hf2.encode(text).ids, self.tt.encode_ordinary(text)

    def encode_bytes(self, data):
        """The same three for any bytes, invalid UTF-8 by the runs rule."""
        out = ([], [], [])
        for r in split_runs(data):
            if isinstance(r, int):
                for o in out:
                    o.append(self.byte_id[r])
            else:
                for o, ids in zip(out, self.encode(r)):
                    o.extend(ids)
        return out

    def byte_offset(self, ids, pos):
        return sum(len(self.tok_bytes[i]) for i in ids[:pos])


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def save_vocab(tok, d):
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    tok.model.save(d)


def make_tar(src, name, path):
    """A deterministic name/{FILES} tar, xz preset 9e."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        def info(arcname, mode, kind, size=0):
            ti = tarfile.TarInfo(arcname)
            ti.type, ti.mode, ti.size, ti.mtime = kind, mode, size, 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti
        t.addfile(info(name, 0o755, tarfile.DIRTYPE))
        for f in FILES:
            with open(os.path.join(src, f), "rb") as fh:
                data = fh.read()
            t.addfile(info(name + "/" + f, 0o644, tarfile.REGTYPE, len(data)), io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                              preset=9 | lzma.PRESET_EXTREME))
    # read it back: the archive holds exactly the files the references were built from
    with tarfile.open(path, "r:xz") as t:
        for f in FILES:
            with open(os.path.join(src, f), "rb") as fh:
                assert t.extractfile(name + "/" + f).read() == fh.read(), f


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="data/default", help="corpus folder with manifest.json (default data/default)")
    ap.add_argument("--out", default="tests/fixtures/bpe", help="output folder (default tests/fixtures/bpe)")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    print("tokenizers %s, tiktoken %s" % (tokenizers.__version__, tiktoken.__version__))

    docs = load_corpus(args.corpus)
    doms = []
    for d, _, _ in docs:
        if d not in doms:
            doms.append(d)
    print("corpus %s: %s" % (args.corpus, ", ".join("%s %d" % (d, sum(1 for x in docs if x[0] == d)) for d in doms)))
    doc_bytes = [t.encode("utf-8") for _, _, t in docs]
    lines = ["# %s in manifest order (%s): <domain> <index within domain> <fnv1a32 of the "
             "document's UTF-8 bytes>, %d documents" % (args.corpus, ", ".join(doms), len(docs))]
    lines += ["%s %d %08x" % (d, i, fnv1a32(b)) for (d, i, _), b in zip(docs, doc_bytes)]
    write(os.path.join(out, "corpus.txt"), "\n".join(lines) + "\n")

    cases = adversarial_cases()
    write(os.path.join(out, "adversarial.txt"), "".join(c.hex() + "\n" for c in cases))
    n_invalid = sum(1 for c in cases if any(isinstance(r, int) for r in split_runs(c)))
    print("adversarial: %d cases (%d with invalid UTF-8)" % (len(cases), n_invalid))

    summary, disagree, format_mismatch = [], [], []
    tmp = tempfile.mkdtemp(prefix="bpe-fixtures-")
    try:
        for n in SIZES:
            tok = train(n, docs)
            tarred = n in TARRED
            d = os.path.join(tmp if tarred else out, "v%d" % n)
            save_vocab(tok, d)
            refs = Refs(d, n)
            if refs.size != n:
                print("v%d: the corpus allows only %d tokens; using that" % (n, refs.size))
            for f in FILES:
                print("  v%d/%s: %d bytes" % (n, f, os.path.getsize(os.path.join(d, f))))
            if tarred:
                stale = os.path.join(out, "v%d" % n)
                if os.path.isdir(stale):
                    shutil.rmtree(stale)
                tar = os.path.join(out, "v%d.tar.xz" % n)
                make_tar(d, "v%d" % n, tar)
                print("  v%d.tar.xz: %d bytes" % (n, os.path.getsize(tar)))

            # the corpus
            exp = ["# v%d: requested %d, vocab_size %d, eot_id %d; per document of corpus.txt: "
                   "<fnv1a32 of the ids as int32 little-endian> <number of ids>" % (n, n, refs.size, refs.eot)]
            per_dom = {x: [0, 0] for x in doms}   # bytes, tokens
            nd = 0
            for (dom, i, text), b in zip(docs, doc_bytes):
                hf, hf2, tt = refs.encode(text)
                exp.append("%08x %d" % (ids_hash(hf), len(hf)))
                per_dom[dom][0] += len(b)
                per_dom[dom][1] += len(hf)
                if hf2 != hf:
                    format_mismatch.append((n, "corpus", "%s %d" % (dom, i), first_diff(hf, hf2)))
                if tt != hf:
                    p = first_diff(hf, tt)
                    disagree.append((n, "%s %d" % (dom, i), p, show(b, refs.byte_offset(hf, p)),
                                     hf[p:p + 4], tt[p:p + 4], refs))
                    nd += 1
            write(os.path.join(out, "v%d.expected" % n), "\n".join(exp) + "\n")

            # the adversarial set
            adv, na = [], 0
            for k, cb in enumerate(cases):
                hf, hf2, tt = refs.encode_bytes(cb)
                adv.append(" ".join(map(str, hf)))
                if hf2 != hf:
                    format_mismatch.append((n, "adversarial", "case %d" % k, first_diff(hf, hf2)))
                if tt != hf:
                    p = first_diff(hf, tt)
                    disagree.append((n, "adversarial %d" % k, p, show(cb, refs.byte_offset(hf, p)),
                                     hf[p:p + 4], tt[p:p + 4], refs))
                    na += 1
            write(os.path.join(out, "v%d.adversarial" % n), "\n".join(adv) + "\n")
            summary.append((n, refs.size, refs.eot, len(docs), sum(v[1] for v in per_dom.values()),
                            {x: v[0] / max(v[1], 1) for x, v in per_dom.items()}, nd, na))
            print("v%d: vocab_size %d, eot_id %d, disagreements: %d documents, %d adversarial cases"
                  % (n, refs.size, refs.eot, nd, na))
    finally:
        shutil.rmtree(tmp)

    # disagreements
    md = ["# Disagreements between the two references", "",
          "Made by scripts/make_bpe_fixtures.py (tokenizers %s, tiktoken %s). The expected values in"
          " vN.expected and vN.adversarial are tokenizers'; tiktoken (same vocabulary, GPT-2"
          " pattern) is the second reference." % (tokenizers.__version__, tiktoken.__version__), ""]
    if not disagree:
        md.append("none: on every document and every adversarial case of every vocabulary the two give"
                  " the same ids.")
    else:
        md += ["%d disagreements (vocabulary, where, first differing token position, the text around"
               " it as `before | after`, tokenizers' ids from there, tiktoken's):" % len(disagree), ""]
        for n, where, p, ctx, a, b, refs in disagree:
            md.append("- v%d %s, token %d: %s; tokenizers %s %s, tiktoken %s %s"
                      % (n, where, p, ctx.replace("`", "\\`"), a, [refs.tok_bytes[i] for i in a],
                         b, [refs.tok_bytes[i] for i in b]))
    if format_mismatch:
        md += ["", "tokenizers from tokenizer.json and from vocab.json+merges.txt differ (they should not):", ""]
        md += ["- v%d %s %s, token %d" % m for m in format_mismatch]
    write(os.path.join(out, "DISAGREEMENTS.md"), "\n".join(md) + "\n")
    write(os.path.join(out, "README.md"), README)

    # sizes and summary
    raw = packed = 0
    for root, _, files in os.walk(out):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            raw += len(data)
            packed += len(zlib.compress(data))
    print("\n%s: %d bytes, about %d bytes as git objects (zlib)" % (out, raw, packed))
    print("\n%-7s %6s %4s %6s %9s  %s  %s" % ("vocab", "size", "eot", "docs", "tokens",
                                              "  ".join("%6s" % x for x in doms), "disagree doc/adv"))
    for n, size, eot, nd_, toks, bpt, d1, d2 in summary:
        print("%-7s %6d %4d %6d %9d  %s  %d/%d" % ("v%d" % n, size, eot, nd_, toks,
                                                 "  ".join("%6.3f" % bpt[x] for x in doms), d1, d2))
    print("(bytes per token per domain)")
    if disagree:
        print("\n%d disagreements between tokenizers and tiktoken (see DISAGREEMENTS.md), e.g.:" % len(disagree))
        for n, where, p, ctx, a, b, _ in disagree[:10]:
            print("  v%d %s token %d: %s: %s vs %s" % (n, where, p, ctx, a, b))
    if format_mismatch:
        print("WARNING: %d cases where tokenizer.json and vocab.json+merges.txt disagree" % len(format_mismatch))


README = """# GPT-2 byte-level BPE fixtures

Made by `python3 scripts/make_bpe_fixtures.py` (needs the Python packages tokenizers and
tiktoken, only to make these files; rerunning it gives identical files). Vocabularies are trained
with Hugging Face tokenizers' BpeTrainer on all documents of data/default (code, math, prose)
with the special token `<|endoftext|>`.

- `v512/`, `v4096/`: `tokenizer.json` (tokenizers' format), `vocab.json` + `merges.txt` (GPT-2's).
- `v50257.tar.xz`: the same three files in `v50257/` (unpack with `tar -xJf`).
- `corpus.txt`: one line per document of data/default in manifest order:
  `<domain> <index within domain> <fnv1a32 of the document's UTF-8 bytes, 8 hex>`.
- `vN.expected`: the same documents, same order: `<fnv1a32 of the ids> <number of ids>`, the ids
  hashed as 4-byte little-endian int32 each. FNV-1a 32: offset 2166136261, prime 16777619.
- `adversarial.txt`: one case per line, its bytes in lowercase hex; an empty line is the empty
  string (the first case).
- `vN.adversarial`: line k holds the expected ids of case k, space-separated (empty: no ids).
- `DISAGREEMENTS.md`: where tokenizers and tiktoken differ; the expected values are tokenizers'.

Lines of corpus.txt and vN.expected that start with `#` are comments.

The text is encoded as plain text: a literal `<|endoftext|>` is never the special token.

Invalid UTF-8: the input is split into maximal runs of valid UTF-8 and single invalid bytes
(what Python's `bytes.decode("utf-8", "surrogateescape")` finds invalid: lone continuation bytes,
truncated sequences, overlong forms, surrogates, code points above U+10FFFF, 0xF5..0xFF); the
expected ids are those of each valid run encoded on its own, and for each invalid byte b the id
of the one-byte token for b, in order.
"""

if __name__ == "__main__":
    main()
