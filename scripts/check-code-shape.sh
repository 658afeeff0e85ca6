#!/usr/bin/env bash
# Code shape that review asks for and nothing else checks:
#   every function in src/ and apps/ is at most MAX lines (default 80), from
#   its signature to its closing brace, as Universal Ctags finds their ends;
#   every component's README (src/<c>/README.md) names each of its headers
#   (include/agegate/<c>/*.h and the private src/<c>/*.h).
# Prints each offender (FILE:LINE NAME (N lines), or README and header) and
# exits 1; 0 when none.
# (That components link what they include is checked by CMake at configure
# time: agegate_check_component_links in CMakeLists.txt.)
#   scripts/check-code-shape.sh [MAX] [DIR...]
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-80}
shift || true
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(src apps)
command -v ctags >/dev/null || { echo "check-code-shape: ctags not found (apt-get install universal-ctags)" >&2; exit 2; }
ctags --version | grep -q "Universal Ctags" || { echo "check-code-shape: needs Universal Ctags" >&2; exit 2; }
listing=$(ctags -x --languages=C++ --kinds-C++=f --fields=+ne \
  --_xformat='%{end} %{line} %{input} %{scope}::%{name}' -R "${dirs[@]}")
functions=$(printf '%s\n' "$listing" | grep -c . || true)
[ "$functions" -gt 0 ] || { echo "check-code-shape: no function found in ${dirs[*]}" >&2; exit 2; }
unended=$(printf '%s\n' "$listing" | awk '$1 == "-"' | wc -l)
[ "$unended" -eq 0 ] || { echo "check-code-shape: ctags found no end for $unended functions" >&2; exit 2; }
long=$(printf '%s\n' "$listing" | awk -v max="$max" '{n = $1 - $2 + 1; if (n > max) printf "%s:%s %s (%d lines)\n", $3, $2, $4, n}')
unnamed=""
headers=0
for readme in src/*/README.md; do
  c=$(basename "$(dirname "$readme")")
  for h in include/agegate/"$c"/*.h src/"$c"/*.h; do
    [ -f "$h" ] || continue
    headers=$((headers + 1))
    grep -qF "$(basename "$h")" "$readme" || unnamed+="$readme does not name $h"$'\n'
  done
done
status=0
if [ -n "$long" ]; then
  echo "functions over $max lines (split them into named phases):"
  printf '%s\n' "$long"
  status=1
fi
if [ -n "$unnamed" ]; then
  echo "headers their component's README does not name:"
  printf '%s' "$unnamed"
  status=1
fi
[ $status -eq 0 ] || exit 1
echo "check-code-shape: $functions functions in ${dirs[*]}, none over $max lines; $headers headers, each named in its component's README"
