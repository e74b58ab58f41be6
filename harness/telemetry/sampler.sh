# harness telemetry sampler: one streaming process on the target.
# POSIX sh: runs under dash, busybox ash, mksh (Android's /system/bin/sh), toybox sh, bash.
# Started as:  sh -c "$SCRIPT" harness-sampler PERIOD_US MAX_S PIDFILE TMPDIR TEGRA_MS VC_S PMIC_S PATH...
#   PERIOD_US  sampling period in microseconds
#   MAX_S      exit after this many seconds even if nobody stops us (never outlive a run)
#   PIDFILE    file that will hold the agent's pid ('-': none); its /proc stat/status are sampled,
#              and the file is read again once that process is gone (a next worker process)
#   TMPDIR     writable folder for a FIFO used as a fork-free timed wait ('-': none)
#   TEGRA_MS   run `tegrastats --interval TEGRA_MS` alongside (0: no)
#   VC_S       vcgencmd measure_temp/get_throttled/measure_clock arm every VC_S seconds (0: no)
#   PMIC_S     vcgencmd pmic_read_adc every PMIC_S seconds (0: no)
#   PATH...    files read every period, in order
# Output lines (fields separated by one TAB):
#   H clock=<realtime|boottime> wait=<read|sleep> pid=<$$>
#   S <stamp> <v1> ... <vN>      one value per PATH, '-' when unreadable
#   A <stamp> <pid> <stat line> <VmRSS value> <unit>
#   T <stamp> <tegrastats line>
#   V <stamp> <vcgencmd output line>
#   E <reason>
# <stamp>: $EPOCHREALTIME (µs, CLOCK_REALTIME) when the shell has it, else the first field
# of /proc/uptime (10 ms, CLOCK_BOOTTIME). The host maps it onto CLOCK_MONOTONIC.
# Everything in the loop is a shell builtin (read, echo, arithmetic): no fork per sample.
LC_ALL=C
export LC_ALL
T='	'
period_us=$1 max_s=$2 pidfile=$3 tmpdir=$4 tegra_ms=$5 vc_s=$6 pmic_s=$7
shift 7

if [ -n "${EPOCHREALTIME:-}" ]; then clock=realtime; else clock=boottime; fi

# now_us: microseconds within a 1000 s cycle (fits the 32-bit arithmetic of mksh); stamp: raw text
tick() {
  if [ "$clock" = realtime ]; then stamp=$EPOCHREALTIME; else read -r stamp _rest </proc/uptime; fi
  _s=000${stamp%.*}
  _s=${_s#"${_s%???}"}
  _f=${stamp#*.}
  [ "$_f" = "$stamp" ] && _f=0
  _f=${_f}000000
  _f=${_f%"${_f#??????}"}
  _f=${_f#"${_f%%[!0]*}"}
  _s=${_s#"${_s%%[!0]*}"}
  now_us=$(( ${_s:-0} * 1000000 + ${_f:-0} ))
}

bg=
cleanup() {
  [ -n "$bg" ] && kill $bg 2>/dev/null
  echo "E${T}$1"
  exit 0
}
trap 'cleanup term' TERM INT HUP

# A timed `read -t` on a FIFO nobody writes to waits without forking; shells without
# fractional `read -t` (dash) fall back to the external `sleep`.
wait_mode=sleep
if [ "$tmpdir" != - ] && mkfifo "$tmpdir/.harness-sampler-$$" 2>/dev/null; then
  exec 3<>"$tmpdir/.harness-sampler-$$"
  rm -f "$tmpdir/.harness-sampler-$$"
  tick; t0=$now_us
  read -t 0.05 _x 2>/dev/null <&3
  tick
  [ $(( (now_us - t0 + 1000000000) % 1000000000 )) -ge 30000 ] && wait_mode=read
fi
pause() {  # $1: microseconds
  _w=000000$(( $1 % 1000000 ))
  _w=$(( $1 / 1000000 )).${_w#"${_w%??????}"}
  if [ "$wait_mode" = read ]; then read -t "$_w" _x <&3; else sleep "$_w"; fi
}

echo "H${T}clock=$clock${T}wait=$wait_mode${T}pid=$$"

if [ "$tegra_ms" != 0 ]; then
  tegrastats --interval "$tegra_ms" 2>/dev/null | while IFS= read -r line; do
    tick; echo "T${T}$stamp${T}$line"
  done &
  bg="$bg $!"
fi
vc_loop() {  # $1: period (s); the rest: vcgencmd sub-commands
  _p=$1; shift
  while :; do
    tick
    for _c in "$@"; do
      vcgencmd $_c 2>/dev/null | while IFS= read -r line; do echo "V${T}$stamp${T}$line"; done
    done
    sleep "$_p"
  done
}
if [ "$vc_s" != 0 ]; then vc_loop "$vc_s" measure_temp get_throttled "measure_clock arm" & bg="$bg $!"; fi
if [ "$pmic_s" != 0 ]; then vc_loop "$pmic_s" pmic_read_adc & bg="$bg $!"; fi

tick
next=$now_us prev=$now_us run_s=0 run_us=0 pid=
while [ "$run_s" -lt "$max_s" ]; do
  tick
  run_us=$(( run_us + (now_us - prev + 1000000000) % 1000000000 )) prev=$now_us
  while [ "$run_us" -ge 1000000 ]; do run_s=$(( run_s + 1 )) run_us=$(( run_us - 1000000 )); done
  line="S${T}$stamp"
  for p in "$@"; do
    v=
    read -r v 2>/dev/null <"$p"
    line="$line${T}${v:--}"
  done
  echo "$line" || exit 0
  if [ "$pidfile" != - ]; then
    [ -z "$pid" ] && read -r pid 2>/dev/null <"$pidfile"
    if [ -n "$pid" ] && read -r st 2>/dev/null <"/proc/$pid/stat"; then
      rss=-
      while read -r k v u; do
        [ "$k" = VmRSS: ] && { rss="$v${T}$u"; break; }
      done 2>/dev/null <"/proc/$pid/status"
      echo "A${T}$stamp${T}$pid${T}$st${T}$rss"
    else
      pid=  # it ended: read the pid file again (the agent's next worker process)
    fi
  fi
  # deadline pacing: the average rate holds even though each pass takes some time
  next=$(( next + period_us ))
  tick
  d=$(( (next - now_us + 1000000000) % 1000000000 ))
  [ "$d" -gt 500000000 ] && d=$(( d - 1000000000 ))
  if [ "$d" -gt 0 ]; then
    pause "$d"
  elif [ "$d" -lt $(( -period_us )) ]; then
    next=$now_us  # fell behind by more than a period: do not try to catch up in a burst
  fi
done
cleanup max_time
