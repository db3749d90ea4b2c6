#!/usr/bin/env bash
# Prints which tests did not run for a missing prerequisite, grouped by reason, from the records that
# pincore-testkit's `require!` leaves in DIR (one `BINARY TEST<TAB>REASON` line per skipped test).
# Prints nothing when every test ran.
set -euo pipefail
dir="${1:?usage: skip-summary.sh DIR}"
compgen -G "$dir/*.skip" >/dev/null || exit 0
count="$(cat "$dir"/*.skip | wc -l)"
echo
echo "did not run: $count tests (counted as passed above; with CI=true a missing prerequisite fails instead)"
sort "$dir"/*.skip | awk -F'\t' '
  { if (!($2 in by)) order[n++] = $2; by[$2] = by[$2] "\n    " $1; count[$2]++ }
  END { for (i = 0; i < n; i++) { r = order[i]; print "  " r " (" count[r] "):" by[r] } }'
