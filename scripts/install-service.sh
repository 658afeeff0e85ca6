#!/usr/bin/env bash
# Installs `agegate serve` as a systemd service, in the FHS places:
#   PREFIX/bin/agegate                        the program (built by scripts/build.sh)
#   PREFIX/share/agegate/agegate.agm          the model
#   PREFIX/share/agegate/face_detection_yunet_2022mar.onnx   the face detector
#   /etc/systemd/system/agegate.service       the hardened unit (deploy/agegate.service)
#   /etc/agegate/serve.toml                   the configuration (deploy/serve.toml); an
#                                             existing one is kept, the new example goes
#                                             beside it as serve.toml.dist
#   /var/lib/agegate                          the checkout database (made by systemd)
# Usage: scripts/install-service.sh [--root DIR] [--prefix /usr/local] [--build build]
#                                   [--model FILE] [--detector FILE] [--no-systemctl]
#   --root DIR      install under DIR instead of / (packaging, tests); implies --no-systemctl
#   --no-systemctl  do not run systemctl daemon-reload
# Files are copied beside their target and renamed into place, so a running
# service that reloads never reads half a model.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root=/ prefix=/usr/local build="$here/build" model="$here/models/agegate.agm" detector="" systemctl=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; systemctl=0; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --detector) detector="$2"; shift 2 ;;
    --no-systemctl) systemctl=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install-service.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
shared="${AGEGATE_SHARED_DIR:-$here/../shared}"
[ -n "$detector" ] || detector="$shared/weights/face_detection_yunet_2022mar.onnx"
fail() { echo "install-service.sh: $*" >&2; exit 1; }
[ -x "$build/agegate" ] || fail "$build/agegate not found: build it first (scripts/build.sh)"
[ -f "$model" ] || fail "model $model not found (--model FILE)"
[ -f "$detector" ] || fail "face detector $detector not found (--detector FILE, or set AGEGATE_SHARED_DIR)"
if missing=$(ldd "$build/agegate" | grep "not found"); then
  fail "the program's libraries are missing on this machine (scripts/install-deps.sh installs them):
$missing"
fi

dest() { echo "${root%/}$1"; }
# put MODE SRC DEST: copy beside the target, then rename into place.
put() {
  local mode="$1" src="$2" to
  to="$(dest "$3")"
  mkdir -p "$(dirname "$to")"
  install -m "$mode" "$src" "$to.new.$$"
  mv -f "$to.new.$$" "$to"
  echo "  $3"
}
echo "installing agegate under ${root%/}/ (prefix $prefix):"
put 0755 "$build/agegate" "$prefix/bin/agegate"
put 0644 "$model" "$prefix/share/agegate/agegate.agm"
put 0644 "$detector" "$prefix/share/agegate/$(basename "$detector")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s#@BINDIR@#$prefix/bin#g" "$here/deploy/agegate.service" > "$tmp/agegate.service"
put 0644 "$tmp/agegate.service" /etc/systemd/system/agegate.service
sed "s#/usr/local/share/agegate/#$prefix/share/agegate/#g" "$here/deploy/serve.toml" > "$tmp/serve.toml"
if [ -e "$(dest /etc/agegate/serve.toml)" ]; then
  put 0644 "$tmp/serve.toml" /etc/agegate/serve.toml.dist
  echo "  (kept the existing /etc/agegate/serve.toml; the new example is serve.toml.dist)"
else
  put 0644 "$tmp/serve.toml" /etc/agegate/serve.toml
fi
# The configuration must parse before the service is asked to start.
"$(dest "$prefix/bin/agegate")" serve --config "$(dest /etc/agegate/serve.toml)" --print-config > /dev/null \
  || fail "$(dest /etc/agegate/serve.toml) does not parse (see above)"
if [ "$systemctl" = 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemd-analyze verify /etc/systemd/system/agegate.service
  echo "installed. Start it now and at every boot:  systemctl enable --now agegate"
else
  echo "installed under ${root%/}/ (systemctl not run)"
fi
