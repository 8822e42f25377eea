#!/usr/bin/env bash
# Fills .gpu-deps/, the folder that travels with the tree to a lent GPU machine (which has the
# CUDA toolkit, CMake, ninja, gcc and PyTorch but no package registry), for
# scripts/gpu-verify.sh to build and test polymoe there:
#   debs/            the Debian packages the build needs beyond the CUDA image, downloaded with
#                    `apt-get download` (no dependencies pulled in: the list below is complete
#                    for a private prefix), unpacked there with dpkg -x, never into /
#   corpus.tar.gz    data/default (the default corpus the parity test trains on; it is built
#                    from Debian's bible-kjv and Python's standard library, neither of which
#                    the GPU image has)
#   MANIFEST         one line per file: sha256, bytes, name (and package=version for debs)
#   SOURCE           git describe and the date of this download, so results name their source
# usage: gpu-deps.sh [--debs] [--corpus] [--polymoe PATH] [--dir DIR]
#   --debs, --corpus  only that part (default: both)
#   --polymoe PATH    a built polymoe, used to build data/default when it is missing
#   --dir DIR         the folder to fill (default .gpu-deps in the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The build's Debian packages (see CMakeLists.txt and scripts/install-deps.sh), with the
# runtime libraries their -dev packages point at, since nothing is pulled in automatically.
packages=(
  pkgconf pkgconf-bin libpkgconf3                                   # pkg-config for CMake
  libopenblas-dev libopenblas0 libopenblas-pthread-dev libopenblas0-pthread libgfortran5 libquadmath0
  libcjson-dev libcjson1                                            # JSON
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3   # the BPE regex
  ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-headers opencl-c-headers opencl-clhpp-headers
  libclblast-dev libclblast1                                        # OpenCL and CLBlast
  libvulkan-dev libvulkan1 glslc libshaderc1                        # Vulkan loader, glslc
  libglvnd0 libglx0 libegl1 libopengl0 libgl1 libgles2              # what NVIDIA's Vulkan ICD loads
)

dir=.gpu-deps
want_debs=0 want_corpus=0 polymoe=""
while [ $# -gt 0 ]; do
  case "$1" in
    --debs) want_debs=1 ;;
    --corpus) want_corpus=1 ;;
    --polymoe) polymoe=${2:?--polymoe needs a path}; shift ;;
    --dir) dir=${2:?--dir needs a folder}; shift ;;
    --list) printf '%s\n' "${packages[@]}"; exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-deps.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ $want_debs = 0 ] && [ $want_corpus = 0 ]; then want_debs=1 want_corpus=1; fi
mkdir -p "$dir/debs"

if [ $want_debs = 1 ]; then
  arch=$(dpkg --print-architecture)
  if [ "$arch" != amd64 ]; then
    echo "gpu-deps.sh: this machine is $arch; the GPU machine is amd64 (x86-64). Run this on an amd64 Debian/Ubuntu." >&2
    exit 1
  fi
  # the candidate version of each package (one apt-cache call: each one loads the whole cache)
  declare -A version=()
  while read -r p v; do version[$p]=$v; done < <(
    apt-cache show --no-all-versions "${packages[@]}" 2>/dev/null |
      awk '/^Package:/ {p = $2} /^Version:/ {print p, $2}')
  missing=() fetch=()
  for p in "${packages[@]}"; do
    v=${version[$p]:-}
    if [ -z "$v" ]; then missing+=("$p"); continue; fi
    # apt-get download names files PACKAGE_VERSION_ARCH.deb with ':' as %3a
    compgen -G "$dir/debs/${p}_${v//:/%3a}_*.deb" > /dev/null || fetch+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "gpu-deps.sh: apt knows no package ${missing[*]} (run apt-get update; the list was made on Debian 12, bookworm)" >&2
    exit 1
  fi
  if [ ${#fetch[@]} -gt 0 ]; then
    # run the download as this user: apt's _apt user may not write to this folder
    (cd "$dir/debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "${fetch[@]}" > /dev/null) ||
      { echo "gpu-deps.sh: apt-get download ${fetch[*]} failed" >&2; exit 1; }
    echo "downloaded ${fetch[*]}"
  fi
  # drop what the list no longer names, and older versions from an earlier download
  for f in "$dir"/debs/*.deb; do
    p=$(dpkg-deb -f "$f" Package) v=$(dpkg-deb -f "$f" Version)
    if [ "${version[$p]:-}" != "$v" ]; then rm -f "$f"; echo "removed stale $(basename "$f")"; fi
  done
fi

if [ $want_corpus = 1 ]; then
  if [ ! -f data/default/manifest.json ]; then
    if [ -z "$polymoe" ]; then
      echo "gpu-deps.sh: data/default is missing; build it once (polymoe builds the default corpus on first use:" >&2
      echo "  build/polymoe train --steps 1 --out /tmp/corpus-run) or pass --polymoe PATH" >&2
      exit 1
    fi
    tmp=$(mktemp -d)
    echo "building data/default with $polymoe (one training step of the default config)"
    "$polymoe" train --steps 1 --out "$tmp/run" > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "$tmp"
  fi
  # a fixed order, owner and time, so an unchanged corpus gives the same archive
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C data -cf - default |
    gzip -n -9 > "$dir/corpus.tar.gz.new"
  mv "$dir/corpus.tar.gz.new" "$dir/corpus.tar.gz"
fi

# MANIFEST: everything the GPU run unpacks, with checksums it verifies first
{
  for f in "$dir"/debs/*.deb; do
    [ -e "$f" ] || continue
    printf '%s %s debs/%s %s=%s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" \
      "$(basename "$f")" "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)"
  done
  if [ -f "$dir/corpus.tar.gz" ]; then
    printf '%s %s corpus.tar.gz data/default\n' "$(sha256sum "$dir/corpus.tar.gz" | cut -d' ' -f1)" \
      "$(stat -c %s "$dir/corpus.tar.gz")"
  fi
} > "$dir/MANIFEST"
{
  echo "downloaded_utc $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git_describe $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "git_head $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "host_os $(. /etc/os-release && echo "$PRETTY_NAME")"
} > "$dir/SOURCE"
echo "$dir: $(grep -c ' debs/' "$dir/MANIFEST") packages$([ -f "$dir/corpus.tar.gz" ] && echo ", the corpus"), $(du -sh "$dir" | cut -f1) in all"
