#!/usr/bin/env bash
# Every decision id and every section of Kuma 0.5.0's behaviour that the repository cites must
# be defined in docs/, so a reader can follow it. Exits non-zero, naming each citation that
# does not resolve.
#
# What counts as a citation, in the *.rs, *.md, *.yaml and *.sh files git tracks:
# - a decision id: D, U or X followed by a number, as a whole token (`D17`, `(U9)`,
#   `D11-D14` is two). Not when glued to a letter, digit, `_`, `:`, `.` or `%` before it
#   (hex, fingerprints, URL escapes, `0xD2`), nor when followed by a letter, digit or `_`
#   (`X5a`). NOT_IDS lists the tokens that look like ids and are not.
#   Defined by an anchor `<a id="D17"></a>` in docs/ (docs/compatibility.md has them).
# - a section of Kuma's HTTP API behaviour: the section sign and a dotted number; defined by
#   `<a id="api-6.2.5"></a>`. Preceded by `xDS ` it is a section of Kuma's xDS behaviour,
#   defined by `<a id="xds-2.3"></a>` (both in docs/kuma-0.5-behaviour.md). A range (with an
#   en dash or a hyphen) cites both ends, the second without the section sign.
#
# The documents that define the anchors are checked like any other file: what they cite must
# resolve too.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

NOT_IDS=" X509 "
SECTION=$'\xc2\xa7'   # the section sign, spelled in bytes so this file cites nothing
EN_DASH=$'\xe2\x80\x93'

anchors=$( (grep -ohE '<a id="[^"]+"></a>' docs/*.md || true) | sed -E 's/^<a id="([^"]+)".*/\1/' | sort -u)
mapfile -d '' files < <(git ls-files -z -- '*.rs' '*.md' '*.yaml' '*.sh')

failures=0
cited=()

# "file:line:anchor" for every citation.
citations() {
  # Decision ids; the character before the id, if any, is cut off.
  { grep -nHoE '(^|[^[:alnum:]_:.%])[DUX][0-9]{1,3}\b' -- "${files[@]}" || true; } |
    sed -E 's/^([^:]*:[0-9]+:)[^DUX]?/\1/' |
    while IFS=: read -r file line id; do
      case "$NOT_IDS" in *" $id "*) continue ;; esac
      echo "$file:$line:$id"
    done
  # Sections, with their optional `xDS ` and the end of a range.
  local number="[0-9]+(\\.[0-9]+)*"
  { grep -nHoE "(xDS )?$SECTION$number(($EN_DASH|-)$number)?" -- "${files[@]}" || true; } |
    while IFS=: read -r file line cite; do
      local prefix=api
      if [[ $cite == "xDS "* ]]; then
        prefix=xds
        cite=${cite#xDS }
      fi
      cite=${cite#"$SECTION"}
      cite=${cite//$EN_DASH/ }
      cite=${cite//-/ }
      for n in $cite; do
        echo "$file:$line:$prefix-$n"
      done
    done
}

while IFS=: read -r file line anchor; do
  cited+=("$anchor")
  if ! grep -qxF -- "$anchor" <<<"$anchors"; then
    case $anchor in
      api-*) shown="$SECTION${anchor#api-} (Kuma's HTTP API behaviour)" ;;
      xds-*) shown="xDS $SECTION${anchor#xds-} (Kuma's xDS behaviour)" ;;
      *) shown=$anchor ;;
    esac
    echo "$file:$line: $shown is not defined in docs/ (no <a id=\"$anchor\"></a>)" >&2
    failures=$((failures + 1))
  fi
done < <(citations)

distinct=$(printf '%s\n' "${cited[@]}" | sort -u | wc -l)
if ((failures > 0)); then
  echo "check-decision-ids: $failures citation(s) do not resolve; define them in docs/ (see docs/compatibility.md)" >&2
  exit 1
fi
echo "check-decision-ids: ${#cited[@]} citations of $distinct ids and sections, all defined in docs/"
