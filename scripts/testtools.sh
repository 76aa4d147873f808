#!/usr/bin/env bash
# What `make test` needs beyond Go: node and npm, for the pipeline test
# (gitlab-ci-local is an npm package; the rsync it runs is modelsync's own
# stand-in, internal/testing/rsync). Installs only what is missing, from Debian's
# packages, when it runs as root with apt-get. npm is asked for only when the
# installed node lacks it: NodeSource's nodejs brings its own npm, and
# Debian's npm package conflicts with it.
set -euo pipefail

install() {
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "testtools: the pipeline test needs $1, which is not installed: install it (Debian: apt-get install $1)" >&2
		exit 1
	fi
	echo "testtools: installing $1 for the pipeline test"
	local log
	log=$(mktemp)
	if ! apt-get install -y -qq "$1" >"$log" 2>&1; then
		apt-get update -qq >>"$log" 2>&1 || true
		if ! apt-get install -y -qq "$1" >>"$log" 2>&1; then
			tail -n 20 "$log" >&2
			echo "testtools: apt-get install $1 failed (above): install node and npm by hand, then run make test again" >&2
			exit 1
		fi
	fi
	rm -f "$log"
}

command -v node >/dev/null || install nodejs
if ! command -v npm >/dev/null; then
	if dpkg-query -W -f '${Version}' nodejs 2>/dev/null | grep -q nodesource; then
		echo "testtools: NodeSource's nodejs is installed without its npm: apt-get install --reinstall nodejs" >&2
		exit 1
	fi
	install npm
fi
