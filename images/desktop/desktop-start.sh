#!/bin/sh
# Starts the desktop: Xvfb on :0 at $SCREEN_SIZE (depth 24), then openbox and one xterm
# (NO_XTERM=1: none), then marks the root window ready. The container lives as long as Xvfb
# does, so a dead X server ends the session visibly.
set -eu

size=${SCREEN_SIZE:-1920x1080}
socket=/tmp/.X11-unix/X0

# -noreset: without it the server resets when its last client leaves (the pointer jumps back).
# -nolisten tcp: the unix socket, shared with the vm backend, is the only way in.
Xvfb :0 -screen 0 "${size}x24" -noreset -nolisten tcp -ac >/tmp/xvfb.log 2>&1 &
xvfb=$!

i=0
while [ ! -S "$socket" ]; do
  if ! kill -0 "$xvfb" 2>/dev/null; then
    cat /tmp/xvfb.log >&2
    exit 1
  fi
  i=$((i + 1))
  [ "$i" -gt 200 ] && { echo "Xvfb did not create $socket" >&2; exit 1; }
  sleep 0.05
done

xrdb -nocpp -merge /etc/X11/Xresources/agentflow 2>/dev/null || true

openbox >/tmp/openbox.log 2>&1 &

# A window mapped while openbox is still starting stalls both for seconds: start the terminal
# once the window manager has announced itself on the root window.
i=0
until xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id'; do
  i=$((i + 1))
  [ "$i" -gt 100 ] && break
  sleep 0.05
done
if [ -z "${NO_XTERM:-}" ]; then
  xterm >/dev/null 2>&1 &
  timeout 10 xdotool search --sync --onlyvisible --class xterm >/dev/null 2>&1 || true
fi

# The session bus (at $DBUS_SESSION_BUS_ADDRESS, set by the image) and the AT-SPI bus, started now
# rather than on first use so the first accessibility tree does not wait for them, and after the
# terminal: started before openbox, they made the first window take 5 s more to appear about one
# start in ten. Marked enabled, which is what toolkits check before exposing their widgets.
if command -v dbus-daemon >/dev/null 2>&1; then
  dbus-daemon --session --address="$DBUS_SESSION_BUS_ADDRESS" --nofork --nopidfile \
    >/tmp/dbus.log 2>&1 &
  launcher=/usr/libexec/at-spi-bus-launcher
  if [ -x "$launcher" ]; then
    i=0
    until [ -S /tmp/dbus-session ] || [ "$i" -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
    "$launcher" --launch-immediately >/tmp/at-spi.log 2>&1 &
    i=0
    until dbus-send --session --print-reply --dest=org.a11y.Bus /org/a11y/bus \
      org.freedesktop.DBus.Properties.Set string:org.a11y.Status string:IsEnabled \
      variant:boolean:true >/dev/null 2>&1 || [ "$i" -gt 100 ]; do
      i=$((i + 1))
      sleep 0.05
    done
  fi
fi

# Tells the vm backend the desktop is ready (the image's agentflow.ready-property label): session
# create returns now, and the first screenshot shows the finished desktop.
xprop -root -f AGENTFLOW_READY 8s -set AGENTFLOW_READY 1

wait "$xvfb"
