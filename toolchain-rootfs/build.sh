#!/usr/bin/env bash
# Builds the jail's root filesystem: a minimal Debian bookworm tree holding
# TeX Live, LaTeXML, make4ht, pandoc and Python, made with mmdebstrap (no
# Docker, no network at run time).
#
# The tree is keyed by the toolchain digest (sha256 over this script,
# packages.txt and texmf.cnf) and cached outside the checkout, so a fresh
# clone or a CI run on the same machine reuses it. It is built into a
# temporary directory and renamed into place only when complete, so a
# half-built tree is never mistaken for a finished one.
#
# usage: toolchain-rootfs/build.sh [--print-digest | --print-path]
# env:   TEXJAIL_ROOTFS  where the tree lives (default /var/cache/texjail/rootfs-DIGEST)
#        TEXJAIL_MIRROR  Debian mirror (default http://deb.debian.org)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The same formula is in src/toolchain.rs: keep them in step.
digest=$(cd "$here" && sha256sum build.sh packages.txt texmf.cnf | sha256sum | cut -d' ' -f1)
dest=${TEXJAIL_ROOTFS:-/var/cache/texjail/rootfs-${digest:0:16}}

# Customisation run by mmdebstrap after the packages are installed, with
# the new tree as argument.
customize() {
  local root=$1
  # TeX's own restrictions: put our settings first in the first texmf.cnf
  # kpathsea reads (earlier definitions win), then check they took.
  local cnf
  cnf=$(chroot "$root" kpsewhich -a texmf.cnf | head -n1)
  { cat "$here/texmf.cnf"; echo; cat "$root$cnf"; } > "$root$cnf.new"
  mv "$root$cnf.new" "$root$cnf"
  for kv in openin_any=p openout_any=p shell_escape=f; do
    got=$(chroot "$root" kpsewhich -var-value "${kv%%=*}")
    [ "$got" = "${kv#*=}" ] || { echo "error: ${kv%%=*} is '$got' in the rootfs" >&2; exit 1; }
  done
  # ImageMagick (LaTeXML's figure converter) ships with PDF/PS/EPS disabled;
  # inside the jail Ghostscript runs -dSAFER with no network and no host, so
  # enable them, and keep its resource caps modest.
  sed -i -e '/pattern="\(PS\|PS2\|PS3\|EPS\|PDF\|XPS\)"/d' \
         -e 's/name="memory" value="[^"]*"/name="memory" value="512MiB"/' \
         "$root"/etc/ImageMagick-6/policy.xml
  # Caches TeX would otherwise rebuild on every job: file name databases,
  # font maps, formats and luaotfload's font name index.
  chroot "$root" mktexlsr >/dev/null
  chroot "$root" updmap-sys >/dev/null
  chroot "$root" fmtutil-sys --all >/dev/null 2>&1 || true
  chroot "$root" env TEXMFVAR=/var/lib/texmf luaotfload-tool --update >/dev/null
  pregenerate_cyrillic_metrics "$root"
  pregenerate_matplotlib_cache "$root"
  install_pandoc "$root"
  mkdir -p "$root/.texjail" "$root/job"
  chroot "$root" dpkg-query -W -f '${Package}\t${Version}\n' > "$root/.texjail/manifest.tsv"
}

# Cyrillic (T2A) text in Computer Modern uses the LH fonts, whose metrics
# TeX Live generates with METAFONT on first use. A job's font cache lives in
# its own /tmp, so every Russian document paid for them again: 19 fonts,
# 134 s of a 300 s budget on corpus project 27. Generated once here into
# the system font cache (TEXMFSYSVAR), for the families and sizes LaTeX's
# T2A font definitions use.
pregenerate_cyrillic_metrics() {
  local root=$1 fam size
  for fam in rm bx ti it sl bi tt cc ss sx si; do
    for size in 0500 0600 0700 0800 0900 1000 1095 1200 1440 1728 2074 2488; do
      echo "la$fam$size"
    done
  done | chroot "$root" env TEXMFVAR=/var/lib/texmf xargs -P2 -n1 mktextfm >/dev/null 2>&1 || true
  chroot "$root" mktexlsr /var/lib/texmf >/dev/null 2>&1 || true
  local found
  found=$(chroot "$root" kpsewhich larm1000.tfm labx1440.tfm latt1200.tfm || true)
  [ "$(echo "$found" | grep -c .)" = 3 ] \
    || { echo "error: LH font metrics were not generated: $found" >&2; exit 1; }
}

# matplotlib scans the system fonts into a cache on first import (about
# a second). A run's home is empty each time, so every plotting program
# would pay it: the cache is made once here, and the jail copies it into
# the run's own config directory (MPLCONFIGDIR must be writable).
pregenerate_matplotlib_cache() {
  local root=$1
  mkdir -p "$root/usr/share/texjail/matplotlib"
  chroot "$root" env MPLCONFIGDIR=/usr/share/texjail/matplotlib MPLBACKEND=Agg \
    python3 -c 'import matplotlib.pyplot' >/dev/null
  ls "$root"/usr/share/texjail/matplotlib/fontlist-*.json >/dev/null \
    || { echo "error: matplotlib's font cache was not made" >&2; exit 1; }
}

# pandoc 3 instead of Debian bookworm's 2.17, which gives up on the first
# raw LaTeX it cannot parse (measured on corpus projects 23 and 28); 3.x
# skips what it does not know. The static binary comes from PyPI's
# pypandoc_binary wheel, pinned by version and by the wheel's sha256
# (pip refuses any other file).
PANDOC_WHEEL="pypandoc_binary==1.17 --hash=sha256:d6b620b21c9374e3e48aabd518492bf0776b148442ee28816f6aaf52da3d4387"
install_pandoc() {
  local root=$1 dl
  dl=$(mktemp -d)
  mkdir -p "$root/usr/local/bin"
  echo "$PANDOC_WHEEL" > "$dl/requirements.txt"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    --require-hashes -r "$dl/requirements.txt" -d "$dl"
  python3 - "$dl" "$root/usr/local/bin/pandoc" <<'PY'
import glob, shutil, sys, zipfile
(wheel,) = glob.glob(sys.argv[1] + "/*.whl")
with zipfile.ZipFile(wheel) as z, z.open("pypandoc/files/pandoc") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$root/usr/local/bin/pandoc"
  rm -rf "$dl"
  chroot "$root" pandoc --version | head -n1 | grep -q '^pandoc 3\.' \
    || { echo "error: pandoc 3 did not install" >&2; exit 1; }
}

case "${1:-}" in
  --print-digest) echo "$digest"; exit 0 ;;
  --print-path) echo "$dest"; exit 0 ;;
  --customize) customize "$2"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-digest | --print-path]" >&2; exit 2 ;;
esac

if [ -f "$dest/.texjail/digest" ] && [ "$(cat "$dest/.texjail/digest")" = "$digest" ]; then
  echo "rootfs up to date: $dest"
  exit 0
fi
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  echo "error: $dest exists but is not a finished rootfs for digest $digest;" >&2
  echo "       remove it or point TEXJAIL_ROOTFS elsewhere" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: building the rootfs needs root (mmdebstrap --mode=root)" >&2
  exit 1
fi
command -v mmdebstrap >/dev/null || { echo "error: mmdebstrap missing: apt-get install mmdebstrap" >&2; exit 1; }

mirror=${TEXJAIL_MIRROR:-http://deb.debian.org}
packages=$(grep -v '^\s*#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
parent=$(dirname "$dest")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.building-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building rootfs $digest into $dest (takes minutes; log below)"


mmdebstrap --mode=root --variant=minbase \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/texlive/texmf-dist/doc/*' \
  --dpkgopt='path-exclude=/usr/share/texmf/doc/*' \
  --include="$packages" \
  --customize-hook="\"$here/build.sh\" --customize \"\$1\"" \
  bookworm "$tmp" \
  "deb $mirror/debian bookworm main" \
  "deb $mirror/debian bookworm-updates main" \
  "deb $mirror/debian-security bookworm-security main"

echo "$digest" > "$tmp/.texjail/digest"
chmod 0755 "$tmp"
mv -T "$tmp" "$dest"
trap - EXIT
echo "rootfs ready: $dest ($(du -sh "$dest" | cut -f1), $(( $(date +%s) - start )) s)"
