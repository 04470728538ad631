#!/bin/sh
# gen-openssl.sh DIR: the deptoken fixtures that openssl makes (tokens as
# `openssl smime -encrypt` writes them, BER with indefinite lengths, and the
# PKCS#7/CMS wrong files). Run by `go run ./deptoken/testdata/gen`, which
# writes DIR/certs and DIR/files/decrypted-token.txt first.
set -eu
dir=${1:?usage: gen-openssl.sh TESTDATA-DIR}
c=$dir/certs
f=$dir/files
msg=$f/decrypted-token.txt
a=$c/intune-a.crt

# The token as Apple Business Manager gives it: BER with indefinite lengths
# (-stream), AES-256, base64 wrapped at 64 with CRLF, Apple's header block.
apple="$f/Contoso MDM_Token_2026-11-29T07-12-45Z_smime.p7m"
{
	printf 'Content-Type: application/pkcs7-mime; name="smime.p7m"; smime-type=enveloped-data\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n'
	printf 'Content-Disposition: attachment; filename="smime.p7m"\r\n'
	printf 'Content-Description: S/MIME Encrypted Message\r\n'
	printf '\r\n'
	openssl smime -encrypt -aes256 -binary -stream -outform DER -in "$msg" "$a" |
		openssl base64 -e | sed 's/$/\r/'
} >"$apple"

# openssl's own S/MIME output: x-pkcs7-mime, LF or CRLF.
openssl smime -encrypt -aes256 -binary -stream -in "$msg" -out "$f/openssl-smime-aes256-lf.p7m" "$a"
openssl smime -encrypt -aes128 -binary -crlfeol -in "$msg" -out "$f/openssl-smime-aes128-crlf.p7m" "$a"
openssl smime -encrypt -aes256 -binary -stream -outform DER -in "$msg" -out "$f/openssl-aes256-indefinite.der" "$a"
openssl smime -encrypt -aes128 -binary -outform PEM -in "$msg" -out "$f/openssl-aes128.pem" "$a"
openssl smime -encrypt -aes256 -binary -in "$msg" -out "$f/openssl-two-recipients.p7m" "$a" "$c/intune-b.crt"
openssl cms -encrypt -aes256 -binary -in "$msg" -recip "$a" -keyopt rsa_padding_mode:oaep \
	-out "$f/openssl-oaep.p7m"
openssl cms -encrypt -aes256 -binary -keyid -in "$msg" -recip "$a" -out "$f/openssl-keyid.p7m"

# Wrong files: signed, certificate bundle, other CMS types, a .p12.
openssl smime -sign -nodetach -in "$f/notes.txt" -signer "$c/apns.crt" -inkey "$c/apns.key" \
	-out "$f/signed-data.p7m"
openssl smime -sign -in "$f/notes.txt" -signer "$c/apns.crt" -inkey "$c/apns.key" \
	-out "$f/signed-multipart.eml"
openssl crl2pkcs7 -nocrl -certfile "$a" -out "$f/certificates.p7b"
openssl cms -data_create -in "$f/notes.txt" -outform DER -out "$f/data.p7m"
openssl cms -EncryptedData_encrypt -aes128 -secretkey 000102030405060708090A0B0C0D0E0F \
	-in "$f/notes.txt" -outform PEM -out "$f/encrypted-data.pem"
openssl cms -encrypt -aes256 -pwri_password fixture -in "$f/notes.txt" -out "$f/password.p7m"
openssl pkcs12 -export -in "$c/apns.crt" -inkey "$c/apns.key" -passout pass:fixture \
	-out "$f/apns.p12"
openssl pkcs8 -topk8 -in "$c/apns.key" -v2 aes256 -passout pass:fixture -outform DER \
	-out "$f/encrypted-private-key.der"
