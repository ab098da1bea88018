#!/usr/bin/env bash
# The "Get Help" launcher's dialog path under Xvfb: zenity asks for a note (typed with
# xdotool), helpline-get-help runs `helpline request --note-file - --json` with the note on
# its standard input (never in its arguments), and the answer
# dialog shows the ticket and findings; a screenshot goes to test-artifacts/packaging/.
#
#   packaging/tests/dialog.sh [HELPLINE]
# HELPLINE: the agent to run (default: a stand-in that prints tests/answer-delivered.json,
# the shape RequestFlow.Answer encodes; packaging/test-install.sh runs the real agent
# against a real collector). Also checks the text the terminal path prints.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
artifacts=$root/test-artifacts/packaging
mkdir -p "$artifacts"
for tool in xvfb-run zenity xdotool import jq timeout; do
  command -v "$tool" >/dev/null || { echo "dialog.sh: $tool is missing (see scripts/setup.sh)" >&2; exit 1; }
done
fail() { echo "dialog.sh: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/helpline-dialog.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  helpline=$1
  expect_ticket=${EXPECT_TICKET:-Ticket #}
else
  helpline=$work/helpline
  # The stand-in records its arguments and answers like the real agent.
  cat >"$helpline" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$work/args"
cat >"$work/stdin"
cat "$here/answer-delivered.json"
EOF
  chmod +x "$helpline"
  expect_ticket="Ticket #42: http://127.0.0.1:8470/tickets/42"
fi
note="Wi-Fi drops every few minutes"

# 1. The terminal path's text (no display needed).
text=$(printf '%s\n\n' "$note" | HELPLINE_BIN=$helpline HELPLINE_GET_HELP_UI=terminal HELPLINE_GET_HELP_IN_TERMINAL=1 \
  timeout -k 5 300 "$root/packaging/agent/helpline-get-help")
echo "$text" | grep -qF "$expect_ticket" || fail "the terminal path did not show '$expect_ticket': $text"
if [ $# -eq 0 ]; then
  echo "$text" | grep -qF "• The disk is almost full (high)" || fail "the terminal path did not list the finding: $text"
  [ "$(cat "$work/args")" = "request"$'\n'"--note-file"$'\n'"-"$'\n'"--json" ] || fail "helpline got: $(cat "$work/args")"
  [ "$(cat "$work/stdin")" = "$note" ] || fail "helpline read the note '$(cat "$work/stdin")' on its standard input, not '$note'"
fi
echo "dialog: terminal path OK" >&2

# 1b. No dialog tool, no terminal emulator, no terminal (a desktop launcher on a machine without
# zenity or kdialog): nothing is sent, and the user is told why.
mkdir -p "$work/bare"
for tool in mktemp rm; do ln -s "$(command -v "$tool")" "$work/bare/$tool"; done
rm -f "$work/args"
status=0
timeout_bin=$(command -v timeout)
blind=$(PATH=$work/bare HELPLINE_BIN=$helpline HELPLINE_GET_HELP_UI=terminal "$timeout_bin" -k 5 60 /bin/sh \
  "$root/packaging/agent/helpline-get-help" </dev/null 2>&1) || status=$?
[ "$status" -eq 2 ] || fail "with nothing to ask on, the launcher exited $status: $blind"
echo "$blind" | grep -qF "needs zenity, kdialog or a terminal" || fail "the launcher did not say why: $blind"
[ ! -e "$work/args" ] || fail "the launcher sent a request nobody typed: $(cat "$work/args")"
echo "dialog: no dialog and no terminal: nothing sent, told why" >&2

# 2. The zenity path under Xvfb, driven with xdotool.
cat >"$work/drive.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
work=$1 launcher=$2 note=$3 shot=$4
# The display must answer before the launcher starts (deadline 10 s); exit 3 says it never did,
# which is Xvfb's failure, not the launcher's.
for _ in $(seq 1 100); do
  xdotool getdisplaygeometry >/dev/null 2>&1 && break
  sleep 0.1
done
xdotool getdisplaygeometry >/dev/null 2>&1 || { echo "display $DISPLAY did not answer within 10 s" >&2; exit 3; }
"$launcher" >"$work/launcher.log" 2>&1 &
launcher_pid=$!
# Each wait below has a deadline: 30 s for a window, 300 s for the request.
wait_window() {
  local name=$1 seconds=$2 id=""
  for _ in $(seq 1 $((seconds * 10))); do
    id=$(xdotool search --onlyvisible --name "$name" 2>/dev/null | head -n 1 || true)
    [ -n "$id" ] && { echo "$id"; return 0; }
    kill -0 "$launcher_pid" 2>/dev/null || { echo "launcher exited early: $(cat "$work/launcher.log")" >&2; return 1; }
    sleep 0.1
  done
  echo "no window '$name' within $seconds s" >&2
  return 1
}
entry=$(wait_window '^Get Help$' 30)
sleep 0.5
xdotool windowfocus --sync "$entry"
xdotool type --delay 15 "$note"
sleep 0.3
import -window root "${shot%answer.png}note.png"
xdotool key Return
answer=$(wait_window "help desk's answer" 300)
sleep 1
import -window root "$shot"
xdotool windowfocus --sync "$answer"
xdotool key Return
for _ in $(seq 1 100); do
  kill -0 "$launcher_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$launcher_pid" 2>/dev/null; then
  kill "$launcher_pid"
  echo "the launcher did not end after the answer was closed" >&2
  exit 1
fi
wait "$launcher_pid"
EOF
chmod +x "$work/drive.sh"
shot=$artifacts/get-help-answer.png
rm -f "$shot" "$artifacts/get-help-note.png"
rm -f "$work/args" "$work/stdin"
# A display that never answers (Xvfb failed to start or to let the client in; exit 3) is tried
# once more on a new one; any other failure is the launcher's. Xvfb's own messages go to
# xvfb.log, shown when it fails.
drive() {
  HELPLINE_BIN=$helpline HELPLINE_GET_HELP_UI=zenity timeout -k 10 400 \
    xvfb-run -a -e "$work/xvfb.log" -s "-screen 0 1024x768x24" "$work/drive.sh" "$work" "$root/packaging/agent/helpline-get-help" "$note" "$shot"
}
status=0
drive || status=$?
if [ "$status" -eq 3 ]; then
  echo "dialog: Xvfb's display did not answer ($(tr '\n' ' ' <"$work/xvfb.log" | cut -c1-400)); once more on a new display" >&2
  status=0
  drive || status=$?
fi
[ "$status" -eq 0 ] || fail "the zenity path failed (exit $status; Xvfb: $(tr '\n' ' ' <"$work/xvfb.log" 2>/dev/null | cut -c1-400))"
{ [ -s "$shot" ] && [ -s "$artifacts/get-help-note.png" ]; } || fail "no screenshots"
if [ $# -eq 0 ]; then
  [ "$(cat "$work/stdin")" = "$note" ] || fail "the note typed in the dialog did not reach helpline: $(cat "$work/stdin" "$work/args")"
  ! grep -qF "$note" "$work/args" || fail "the note went in helpline's arguments (visible in ps): $(cat "$work/args")"
fi
echo "dialog: zenity path OK; screenshots $artifacts/get-help-{note,answer}.png" >&2
