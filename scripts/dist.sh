#!/usr/bin/env bash
# make dist: the playground as a folder that any static host serves as it is: index.html, www/
# (the page's modules, the style sheet, pkg/ with the wasm engine), data/ (the digit sets the
# worker fetches) and presets/. Every path in it is relative and nothing runs on the server.
# Needs www/pkg (make wasm). DIST=dir writes elsewhere (default dist/).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${DIST:-dist}"
for f in www/pkg/minnow.js www/pkg/minnow_bg.wasm; do
  [[ -f "$f" ]] || { echo "$f missing: run 'make wasm' first" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/www/pkg" "$out/data" "$out/presets"
cp index.html "$out/"
cp www/*.js www/*.css "$out/www/"
cp www/pkg/minnow.js www/pkg/minnow_bg.wasm "$out/www/pkg/"
cp data/*.bin.gz data/README.md "$out/data/"
cp presets/*.json "$out/presets/"
# GitHub Pages: serve the folder as it is (no Jekyll pass).
touch "$out/.nojekyll"

# Every reference of the page must stay relative, or a host that serves the folder under a
# sub-path (https://user.github.io/minnow/) would miss it.
if grep -nE '(src|href)="/[^/]' "$out/index.html"; then
  echo "index.html has a root-absolute path: a static host under a sub-path would not find it" >&2
  exit 1
fi

files=$(find "$out" -type f | wc -l)
bytes=$(du -sb "$out" | cut -f1)
echo "dist: $out/ ($files files, $bytes bytes); serve it with any static server, e.g. python3 -m http.server -d $out"
