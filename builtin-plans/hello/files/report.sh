#!/bin/sh
# Sent on stdin to /bin/sh by the hello plan's script step.
set -e
echo "host: $(hostname)"
echo "uptime: $(cut -d' ' -f1 /proc/uptime)s"
