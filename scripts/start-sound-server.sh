#!/usr/bin/env bash
# Start a PulseAudio server with a null sink, for the device tests of `focal stream` / `focal play`.
#
# Installs pulseaudio, the ALSA "pulse" plugin and alsa-utils if they are missing (Debian/Ubuntu),
# starts the server (as root: system-wide-less daemon with -n and explicit modules), and makes
# the null sink the default output and its monitor the default input, so what `focal play`
# plays into the sink can be recorded back by `focal stream --input mic`.
# Idempotent: does nothing more if a server already answers. Exit status 0 when a server runs.
set -euo pipefail
SINK=${FOCAL_TEST_SINK:-focal_null}

if ! command -v pulseaudio >/dev/null || ! command -v pactl >/dev/null \
   || ! ls /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so >/dev/null 2>&1; then
  if command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq && apt-get install -y -qq pulseaudio libasound2-plugins alsa-utils \
      libportaudio2) >/dev/null
  else
    echo "start-sound-server: pulseaudio missing and no apt-get" >&2
    exit 1
  fi
fi

if ! pactl info >/dev/null 2>&1; then
  pulseaudio --daemonize=yes --exit-idle-time=-1 -n \
    --load="module-null-sink sink_name=$SINK" \
    --load=module-native-protocol-unix >/dev/null 2>&1 || true
  for _ in $(seq 50); do
    pactl info >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
pactl info >/dev/null 2>&1 || { echo "start-sound-server: pulseaudio did not start" >&2; exit 1; }
if ! pactl list short sinks | grep -q "$SINK"; then
  pactl load-module module-null-sink "sink_name=$SINK" >/dev/null
fi
pactl set-default-sink "$SINK"
pactl set-default-source "$SINK.monitor"
echo "start-sound-server: pulseaudio running, default sink $SINK, source $SINK.monitor" >&2
