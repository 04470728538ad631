# Sourced by register.sh and register-watch.sh: running az, or only showing it (--dry-run).
# Needs $dry_run (true or false). Commands are shown on the original stdout (fd 3) so that
# $(query …) captures only az's answer.
exec 3>&1
shell_quote() {
  local out="" a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+=" $a"
    else out+=" '${a//\'/\'\\\'\'}'"
    fi
  done
  printf '%s' "${out# }"
}
show() { printf '+ %s\n' "$(shell_quote "$@")" >&3; }
# run CMD…: show it, then run it (not in a dry run).
run() { show "$@"; $dry_run || "$@"; }
# query PLACEHOLDER CMD…: show it and print its answer; a dry run answers PLACEHOLDER instead.
query() {
  local placeholder=$1; shift
  show "$@"
  if $dry_run; then printf '%s\n' "$placeholder"; else "$@"; fi
}
say() { printf '%s\n' "$*" >&3; }
section() { printf '\n== %s\n' "$*" >&3; }
