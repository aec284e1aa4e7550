#!/bin/sh
# Install dssframe into .venv of this clone and run `dss demo` (README's first command).
# Works on a fresh Debian/Ubuntu machine as root (no sudo there) and as a user with
# sudo: rsync and python3-venv come from apt, through sudo only when not root.
set -eu
cd "$(dirname "$0")/.."

need=""
command -v rsync >/dev/null 2>&1 || need="$need rsync"
# `python3 -m venv` needs ensurepip, which Debian and Ubuntu ship in python3-venv
# (a fresh Debian container has no python3 at all: python3-venv brings it).
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  need="$need python3-venv"
fi
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install: need$need; run this as root or install sudo" >&2
    exit 1
  fi
  echo "install: apt-get install$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086  # $need is a list of words
  $sudo apt-get install -y -qq $need >/dev/null
fi

[ -x .venv/bin/pip ] || python3 -m venv --clear .venv  # again after a failed attempt
.venv/bin/pip install -q --disable-pip-version-check .
exec .venv/bin/dss demo
