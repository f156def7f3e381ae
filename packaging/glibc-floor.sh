#!/usr/bin/env bash
# The oldest glibc a set of ELF files can run on: the highest GLIBC_x.y symbol version any of
# them requires (objdump -T). Usage: packaging/glibc-floor.sh FILE_OR_DIR... [--top N]
# Prints "glibc floor: 2.NN (FILE)" and, with --top N, the N files that need the newest.
set -euo pipefail
top=0
paths=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --top) top="$2"; shift 2 ;;
    *) paths+=("$1"); shift ;;
  esac
done
command -v objdump >/dev/null || { echo "glibc floor: unknown (objdump missing: apt-get install binutils)"; exit 0; }

table="$(
  find "${paths[@]}" -type f -print0 | while IFS= read -r -d '' file; do
    [[ "$(head -c 4 "$file" | od -An -c | tr -d ' ')" == '177ELF' ]] || continue
    need="$(objdump -T "$file" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1 || true)"
    [[ -n "$need" ]] && printf '%s\t%s\n' "$need" "$file"
  done | sort -t$'\t' -k1,1V
)"
[[ -n "$table" ]] || { echo "glibc floor: no ELF file found in ${paths[*]}"; exit 1; }
last="$(tail -1 <<<"$table")"
echo "glibc floor: ${last%%$'\t'*} (${last#*$'\t'})"
if [[ "$top" -gt 0 ]]; then tail -"$top" <<<"$table" | tac; fi
