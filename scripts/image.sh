#!/usr/bin/env bash
# image.sh BINARY REF VERSION COMMIT OUT: the modelsync image as an OCI
# tarball, built offline without a Docker daemon.
#
# One layer holds /usr/local/bin/modelsync, a static busybox (/bin/sh and its
# applets: GitLab's Docker and Kubernetes executors need a shell in the job
# image) and the CA bundle (the GitLab API and the agent's KAS speak TLS).
# crane appends the layer to an empty base and, through a registry it serves
# on loopback for the length of the build, sets the platform, PATH and labels.
set -euo pipefail

bin=$1 ref=$2 version=$3 commit=$4 out=$5
crane=${CRANE:-crane}
busybox=${BUSYBOX:-/bin/busybox}
cabundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# Static: ldd (libc-bin, on every Debian) has nothing to load for it.
case "$(LC_ALL=C ldd "$busybox" 2>&1 || true)" in
*"not a dynamic executable"*) ;;
*)
	echo "image.sh: $busybox is not a static busybox; install it (Debian: apt-get install busybox-static) or set BUSYBOX" >&2
	exit 1
	;;
esac
[ -f "$cabundle" ] || { echo "image.sh: no CA bundle at $cabundle (Debian: apt-get install ca-certificates) or set CA_BUNDLE" >&2; exit 1; }

work=$(mktemp -d)
registry_pid=
cleanup() {
	[ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

root=$work/root
mkdir -p "$root/bin" "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
install -m 0755 "$bin" "$root/usr/local/bin/modelsync"
install -m 0755 "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 0644 "$cabundle" "$root/etc/ssl/certs/ca-certificates.crt"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
# A reproducible layer: fixed owner, order and times.
tar --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -C "$root" -cf "$work/layer.tar" .

# crane mutate works on a registry, so serve one on loopback, on a port the
# kernel picks (crane logs it).
"$crane" registry serve --address 127.0.0.1:0 >"$work/registry.log" 2>&1 &
registry_pid=$!
port=
for _ in $(seq 1 50); do
	port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/registry.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "image.sh: crane registry serve did not start:" >&2; cat "$work/registry.log" >&2; exit 1; }

local_ref=127.0.0.1:$port/modelsync:build
"$crane" append --oci-empty-base -f "$work/layer.tar" -t "$local_ref" >/dev/null
mkdir -p "$(dirname "$out")"
"$crane" mutate "$local_ref" \
	--set-platform linux/amd64 \
	--env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
	--env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
	--cmd modelsync \
	--label org.opencontainers.image.title=modelsync \
	--label "org.opencontainers.image.version=$version" \
	--label "org.opencontainers.image.revision=$commit" \
	--tag "$ref" -o "$out" >/dev/null
echo "$out: $ref, $(du -h "$out" | cut -f1) (binary $(du -h "$bin" | cut -f1))"
