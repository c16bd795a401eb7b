#!/bin/sh
# Writes the manual page and the shell completions that build-deb.sh and build-rpm.sh install, into OUTDIR:
#   gocd-proxy-sync.8.gz   the command tree (swift-argument-parser's generate-manual plugin) with the
#                          hand-written sections of deploy/man/extra-sections.mdoc in place of its EXIT STATUS
#   gocd-proxy-sync.bash, _gocd-proxy-sync (zsh), gocd-proxy-sync.fish   from BIN --generate-completion-script
#
#   deploy/gen-docs.sh OUTDIR         (BIN= the binary for the completions; default .build/release/gocd-proxy-sync)
#
# The plugin runs with --configuration debug on purpose: with its default (release) it relinks
# .build/release/gocd-proxy-sync without --static-swift-stdlib, replacing the binary the packages ship (and
# recompiling everything, minutes). The command tree is the same in both builds; after `make test` the debug
# build is already there. The page's date is the date of the newest entry in deploy/debian/changelog.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:?usage: deploy/gen-docs.sh OUTDIR}
BIN=${BIN:-.build/release/gocd-proxy-sync}
mkdir -p "$OUT"

DATE=$(date -u -d "$(dpkg-parsechangelog -l deploy/debian/changelog -S Date)" +%Y-%m-%d)
GENERATED=.build/plugins/GenerateManual/outputs/gocd-proxy-sync/gocd-proxy-sync.8
rm -f "$GENERATED"
swift package --allow-writing-to-package-directory generate-manual --configuration debug --section 8 --date "$DATE" >&2
[ -s "$GENERATED" ] || { echo "gen-docs.sh: the plugin wrote no $GENERATED" >&2; exit 1; }

# Replace the generated ".Sh EXIT STATUS" (a bare .Ex -std) with the hand-written sections; keep what follows
# (AUTHORS, when --authors is given) after them. The generated file may lack a final newline.
VERSION=$("$BIN" --version | sed -n '1s/^gocd-proxy-sync \([^ ]*\).*/\1/p')
awk -v extra=deploy/man/extra-sections.mdoc -v os="gocd-proxy-sync ${VERSION:-}" '
    function put(   line) { while ((getline line < extra) > 0) print line; done = 1 }
    /^\.Os$/ { print ".Os \"" os "\""; next }
    /^\.Sh "?EXIT STATUS"?$/ { put(); skip = 1; next }
    skip && /^\.Sh / { skip = 0 }
    !skip { print }
    END { if (!done) put() }
' "$GENERATED" >"$OUT/gocd-proxy-sync.8"
gzip -9nf "$OUT/gocd-proxy-sync.8"

# bash-completion sources the file: no #! line (lintian: bash-completion-with-hashbang).
"$BIN" --generate-completion-script bash | sed '1{/^#!/d}' >"$OUT/gocd-proxy-sync.bash"
"$BIN" --generate-completion-script zsh >"$OUT/_gocd-proxy-sync"
"$BIN" --generate-completion-script fish >"$OUT/gocd-proxy-sync.fish"
for file in gocd-proxy-sync.bash _gocd-proxy-sync gocd-proxy-sync.fish; do
    [ -s "$OUT/$file" ] || { echo "gen-docs.sh: $BIN wrote no $file" >&2; exit 1; }
done
