package sshtest

// fakeSudo speaks the subset of sudo's protocol the transport uses:
// -n (fail when a password is needed), -S (password on stdin, read with
// `read`, which takes one byte at a time from a pipe like sudo does, so
// the rest of stdin reaches the command), -k, -p PROMPT, and "--"; and a
// NOPASSWD rule for /bin/sh alone (SSHTEST_SUDO_NOPASSWD_SH).
const fakeSudo = `#!/bin/sh
need="$SSHTEST_SUDO_PASSWORD"
nonint=0
prompt="[sudo] password: "
while [ $# -gt 0 ]; do
  case "$1" in
    -n) nonint=1 ;;
    -S|-k) ;;
    -p) shift; prompt="$1" ;;
    --) shift; break ;;
    *) break ;;
  esac
  shift
done
if [ "$SSHTEST_SUDO" = none ]; then
  echo "sudo: $(id -un) is not in the sudoers file." >&2
  exit 1
fi
if [ "$1" = /bin/sh ] && [ -n "$SSHTEST_SUDO_NOPASSWD_SH" ]; then need=; fi
if [ -n "$need" ]; then
  if [ $nonint = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
  tries=0
  while :; do
    printf '%s' "$prompt" >&2
    IFS= read -r got || { echo "sudo: no password was provided" >&2; [ $tries -gt 0 ] && echo "sudo: $tries incorrect password attempt" >&2; exit 1; }
    [ "$got" = "$need" ] && break
    tries=$((tries+1))
    if [ $tries -ge 3 ]; then echo "sudo: 3 incorrect password attempts" >&2; exit 1; fi
    echo "Sorry, try again." >&2
  done
fi
exec "$@"
`
