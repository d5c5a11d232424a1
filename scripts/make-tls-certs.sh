#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-tls-certs.sh: a CA and, for each host, the x509 credentials of
# virt-migrated (and of QEMU's and libvirt's migration TLS) in QEMU's
# layout, made with certtool (Debian: gnutls-bin).  docs/tls.md.
#
#   scripts/make-tls-certs.sh [--days N] [--org NAME] OUTDIR HOST...
#
# HOST is NAME or NAME=IP[,IP...]: the host's DNS name, which is its
# certificates' CN and its server certificate's DNS name, and the IP
# addresses a source may dial it by (IP address names in the server
# certificate):  dst.example=192.0.2.2  localhost=127.0.0.1,::1
#
# Makes OUTDIR/ca/ (ca-cert.pem, ca-key.pem; an existing CA there is
# reused, so hosts can be added later) and, for each host, OUTDIR/NAME/:
# ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem,
# client-key.pem.  Keys are ECDSA (P-256) and mode 0600; each certificate
# is verified against the CA before the script ends.
set -eu

usage() {
    cat <<'END'
usage: make-tls-certs.sh [--days N] [--org NAME] OUTDIR HOST...
  HOST      NAME or NAME=IP[,IP...], e.g. dst.example=192.0.2.2
  --days N  validity of the hosts' certificates in days (default 365;
            the CA's is 3650)
  --org O   the certificates' organization, O=... (default virt-migrate)
Makes OUTDIR/ca/ and OUTDIR/NAME/ for each host (QEMU's layout:
ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem,
client-key.pem). Copy OUTDIR/NAME/* to NAME's /etc/pki/qemu.
END
}

die() {
    echo "make-tls-certs.sh: error: $*" >&2
    exit 1
}

usage_error() {
    echo "make-tls-certs.sh: $*" >&2
    usage >&2
    exit 2
}

days=365
org=virt-migrate
while [ $# -gt 0 ]; do
    case $1 in
    --days)
        [ $# -ge 2 ] || usage_error "--days wants a number of days"
        days=$2
        shift 2
        ;;
    --org)
        [ $# -ge 2 ] || usage_error "--org wants a name"
        org=$2
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        break
        ;;
    -*) usage_error "unknown option '$1'" ;;
    *) break ;;
    esac
done
[ $# -ge 2 ] || usage_error "wants OUTDIR and at least one HOST"
case $days in
'' | *[!0-9]*) usage_error "--days wants a positive number of days, not '$days'" ;;
esac
[ "$days" -ge 1 ] || usage_error "--days wants a positive number of days, not '$days'"
case $org in
'' | *[\"\\]*) usage_error "--org wants a name without '\"' or '\\', not '$org'" ;;
esac

outdir=$1
shift

command -v certtool >/dev/null 2>&1 ||
    die "certtool not found: install it (Debian: apt-get install gnutls-bin)"

# Check every HOST before making anything.
ipv4='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
ipv6='^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$'
dnsname='^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$'
names=()
declare -A ips=()
for host in "$@"; do
    name=${host%%=*}
    addrs=
    [ "$name" = "$host" ] || addrs=${host#*=}
    if [[ $name =~ $ipv4 || $name =~ $ipv6 ]]; then
        die "HOST '$host': '$name' is an IP address; name the host and give the address after '=' (NAME=$name)"
    fi
    [[ $name =~ $dnsname ]] ||
        die "HOST '$host': '$name' is not a host name (letters, digits, '-' and '.')"
    [ -z "${ips[$name]+set}" ] || die "HOST '$name' is named twice"
    if [ "$name" != "$host" ] && [ -z "$addrs" ]; then
        die "HOST '$host': no IP address after '='"
    fi
    IFS=, read -r -a list <<<"$addrs"
    for ip in "${list[@]}"; do
        [[ $ip =~ $ipv4 || $ip =~ $ipv6 ]] ||
            die "HOST '$host': '$ip' is not an IPv4 or IPv6 address"
    done
    names+=("$name")
    ips[$name]=$addrs
done
for name in "${names[@]}"; do
    [ "$name" != ca ] || die "HOST 'ca': OUTDIR/ca/ holds the CA; name the host otherwise"
    [ ! -e "$outdir/$name" ] || die "$outdir/$name exists; remove it first (nothing was made)"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# certtool TOOL ARGS..., quiet unless it fails.
run_certtool() {
    if ! certtool "$@" >"$work/log" 2>&1; then
        cat "$work/log" >&2
        die "certtool $1 failed (above)"
    fi
}

# Keys are created under umask 077, so they never exist with wider rights.
make_key() {
    (umask 077 && run_certtool --generate-privkey --key-type=ecdsa --outfile "$1")
    chmod 0600 "$1"
}

mkdir -p "$outdir"
ca=$outdir/ca
if [ -f "$ca/ca-cert.pem" ] && [ -f "$ca/ca-key.pem" ]; then
    echo "reusing the CA in $ca/"
elif [ -e "$ca/ca-cert.pem" ] || [ -e "$ca/ca-key.pem" ]; then
    die "$ca/ holds half a CA (ca-cert.pem or ca-key.pem missing); remove it first"
else
    mkdir -p "$ca"
    chmod 0700 "$ca"
    make_key "$ca/ca-key.pem"
    cat >"$work/ca.info" <<END
cn = "$org migration CA"
organization = "$org"
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
END
    run_certtool --generate-self-signed --load-privkey "$ca/ca-key.pem" \
        --template "$work/ca.info" --outfile "$ca/ca-cert.pem"
    echo "made the CA: $ca/ca-cert.pem (keep $ca/ca-key.pem off the migration hosts)"
fi

# sign DIR ROLE TEMPLATE: ROLE-key.pem and ROLE-cert.pem in DIR.
sign() {
    make_key "$1/$2-key.pem"
    run_certtool --generate-certificate --load-privkey "$1/$2-key.pem" \
        --load-ca-certificate "$ca/ca-cert.pem" --load-ca-privkey "$ca/ca-key.pem" \
        --template "$3" --outfile "$1/$2-cert.pem"
    chmod 0644 "$1/$2-cert.pem"
}

for name in "${names[@]}"; do
    dir=$outdir/$name
    mkdir -p "$dir"
    cp "$ca/ca-cert.pem" "$dir/ca-cert.pem"
    chmod 0644 "$dir/ca-cert.pem"

    # The destination role: the source checks the name or address it
    # dialled against these.
    {
        echo "cn = \"$name\""
        echo "organization = \"$org\""
        echo "dns_name = \"$name\""
        IFS=, read -r -a list <<<"${ips[$name]}"
        for ip in "${list[@]}"; do
            echo "ip_address = \"$ip\""
        done
        echo "tls_www_server"
        echo "signing_key"
        echo "expiration_days = $days"
    } >"$work/server.info"
    sign "$dir" server "$work/server.info"

    # The source role.
    cat >"$work/client.info" <<END
cn = "$name"
organization = "$org"
tls_www_client
signing_key
expiration_days = $days
END
    sign "$dir" client "$work/client.info"

    for role in server client; do
        certtool --verify --load-ca-certificate "$ca/ca-cert.pem" \
            --infile "$dir/$role-cert.pem" >"$work/log" 2>&1 || {
            cat "$work/log" >&2
            die "$dir/$role-cert.pem does not verify against $ca/ca-cert.pem"
        }
    done
    addrs=${ips[$name]:+, IP ${ips[$name]//,/, }}
    echo "made $dir/: DN CN=$name,O=$org; server DNS $name$addrs"
done
echo "copy each OUTDIR/NAME/* to that host's /etc/pki/qemu (keys mode 0600)"
