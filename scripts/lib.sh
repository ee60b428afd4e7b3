# Shared by the setup scripts: timed log lines and long steps that show their progress.
# Source it; SETUP_STARTED (seconds) is when the whole setup began.

SETUP_STARTED=${SETUP_STARTED:-$SECONDS}
LOG_PREFIX=${LOG_PREFIX:-setup}

elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
log() {
  printf '\033[1m[%s %s]\033[0m %s\n' "$LOG_PREFIX" "$(elapsed $((SECONDS - SETUP_STARTED)))" \
    "$*" >&2
}

# Runs a long step with its output in a log file: says what it is and how long it takes the
# first time, prints a heartbeat every 20 s with the elapsed time and the step's latest
# progress (ninja's "[42/139]", pip's "Collecting x"), so a multi-minute step is never silent,
# and shows the log's tail if it fails.
#   run_step "what" "about N min on 2 cores, once" LOGFILE command...
run_step() {
  local what=$1 expect=$2 logfile=$3 started=$SECONDS next_beat pid last
  shift 3
  log "$what ($expect); log: $logfile"
  mkdir -p "$(dirname "$logfile")"
  "$@" >"$logfile" 2>&1 &
  pid=$!
  next_beat=$((started + 20))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next_beat)); then
      next_beat=$((SECONDS + 20))
      last=$(grep -aoE '\[ *[0-9]+/[0-9]+\]|^(Collecting|Building|Installing|Downloading) [^ ]+' \
        "$logfile" 2>/dev/null | tail -n1 || true)
      log "  ... $what: $(elapsed $((SECONDS - started))) elapsed${last:+ ($last)}"
    fi
  done
  if ! wait "$pid"; then
    log "FAILED: $what after $(elapsed $((SECONDS - started))); last lines of $logfile:"
    tail -n 40 "$logfile" >&2
    return 1
  fi
  log "done: $what in $(elapsed $((SECONDS - started)))"
}
