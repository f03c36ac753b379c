#!/usr/bin/env bash
# Runs `npm run demo` in a detached tmux terminal of a given size and prints
# what the terminal shows afterwards (scrollback included), then how many
# times the table header appears and the widest line:
#
#   bash scripts/demo-tmux.sh            # 80x24
#   bash scripts/demo-tmux.sh 120 40
#   bash scripts/demo-tmux.sh 120 40 70  # narrows the window to 70 columns mid-run
#
# A clean run shows the header once and no line of `columns` or more
# characters (wrapped lines are joined back, so a wrap shows as a long line).
# The tmux server has its own socket in a temporary folder; both go on exit.
set -euo pipefail

cols=${1:-80}
rows=${2:-24}
resize_to=${3:-}
cd "$(dirname "$0")/.."

dir=$(mktemp -d)
socket="$dir/tmux.sock"
conf="$dir/tmux.conf"
trap 'tmux -S "$socket" kill-server 2>/dev/null || true; rm -rf "$dir"' EXIT
printf 'set -g default-shell /bin/sh\nset -g remain-on-exit on\nset -g history-limit 10000\nset -g status off\n' >"$conf"

tmux -S "$socket" -f "$conf" new-session -d -x "$cols" -y "$rows" -c "$PWD" \
  "$(printf '%q' "$(command -v node)") --import tsx examples/demo.ts; echo \"[demo exited: \$?]\""

if [ -n "$resize_to" ]; then
  sleep 0.6
  tmux -S "$socket" resize-window -x "$resize_to"
  cols=$resize_to
fi

for _ in $(seq 1 300); do
  tmux -S "$socket" capture-pane -p | grep -q '^\[demo exited: ' && break
  sleep 0.1
done
capture=$(tmux -S "$socket" capture-pane -p -J -S - | sed 's/ *$//')

printf '%s\n' "$capture"
echo "----"
echo "header lines  $(printf '%s\n' "$capture" | grep -cE '^ +task +kind +state' || true)"
echo "widest line   $(printf '%s\n' "$capture" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }') (columns: $cols)"
