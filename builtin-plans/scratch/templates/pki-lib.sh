# pki-lib.sh: openssl helpers shared by pki-ca.sh and pki-server.sh.
set -eu
umask 077
PKI=/etc/kubernetes/pki
mkdir -p "$PKI" /etc/kubernetes/manifests
cd "$PKI"

# --- openssl configuration (seed step 2.1; etcd certificates also get clientAuth,
# because etcd peers and health checks present them as client certificates) ----------
cat > openssl.cnf <<'CNF'
[ req ]
distinguished_name = req_distinguished_name
[ req_distinguished_name ]
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
subjectKeyIdentifier = hash
[ v3_req_client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
[ v3_req_apiserver ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = ${ENV::SANS}
[ v3_req_etcd ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = ${ENV::SANS}
CNF
chmod 0644 openssl.cnf
SANS=DNS:localhost
export SANS

key() { # key FILE: an EC key on $CURVE, made once
  if [ ! -f "$1" ]; then
    openssl ecparam -name "$CURVE" -genkey -noout -out "$1"
  fi
  chmod 0600 "$1"
}

ca() { # ca NAME CN
  key "$1.key"
  if [ ! -f "$1.crt" ]; then
    openssl req -x509 -new -sha256 -nodes -key "$1.key" -days "$CA_DAYS" -out "$1.crt" \
      -subj "/CN=$2" -extensions v3_ca -config openssl.cnf
  fi
}

cert() { # cert PATH SUBJECT CA EXTENSION: a key and a certificate signed by CA
  key "$1.key"
  # a certificate made for another subject (an older plan's O=system:masters admin) is
  # made again
  if [ "$(cat "$1.subject" 2>/dev/null || true)" != "$2" ]; then
    rm -f "$1.crt"
    printf '%s' "$2" > "$1.subject"
  fi
  # one that expires within cert_renew_before_days (RENEW_SECONDS) is renewed: signed again
  # by the same CA for the same key. The key is kept, so whatever happens the certificate in
  # place matches it; the new certificate is written beside the old one and renamed over it.
  if [ -f "$1.crt" ] && ! openssl x509 -checkend "$RENEW_SECONDS" -noout -in "$1.crt" >/dev/null; then
    echo "renewing $PKI/$1.crt ($(openssl x509 -noout -enddate -in "$1.crt"))"
    renew=1
  else
    renew=0
  fi
  if [ ! -f "$1.crt" ] || [ "$renew" = 1 ]; then
    openssl req -new -sha256 -key "$1.key" -subj "$2" -config openssl.cnf |
      openssl x509 -req -sha256 -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
        -out "$1.crt.new" -days "$CERT_DAYS" -extensions "$4" -extfile openssl.cnf
    chmod 0644 "$1.crt.new"
    mv -f "$1.crt.new" "$1.crt"
    if [ "$renew" = 1 ]; then
      echo "renewed $PKI/$1.crt: $(openssl x509 -noout -serial -enddate -in "$1.crt" | tr '\n' ' ')"
    fi
  fi
}

renew_if_sans_changed() { # PATH: forget a certificate made for other SANs
  if [ "$(cat "$1.sans" 2>/dev/null || true)" != "$SANS" ]; then
    rm -f "$1.crt"
    printf '%s' "$SANS" > "$1.sans"
  fi
}

