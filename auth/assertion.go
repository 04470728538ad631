package auth

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/depportal/depportal/secret"
)

// ClientCertificate authenticates the portal to the token endpoint with a signed client
// assertion (RFC 7523, "private_key_jwt") instead of a client secret, as Microsoft recommends.
type ClientCertificate struct {
	cert   *x509.Certificate
	signer jose.Signer
}

// ParseClientCertificate reads a PEM bundle holding the certificate registered on the app and
// its RSA private key.
func ParseClientCertificate(pemData []byte) (*ClientCertificate, error) {
	pair, err := tls.X509KeyPair(pemData, pemData)
	if err != nil {
		return nil, fmt.Errorf("want a PEM certificate and its private key: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the private key must be RSA (Entra ID takes client assertions signed with PS256, RSASSA-PSS)")
	}
	sum := sha256.Sum256(cert.Raw)
	// Microsoft's certificate-credentials page specifies PS256 and names the certificate by
	// x5t#S256 alone; the SHA-1 x5t belonged to the RS256 assertions it no longer describes.
	opts := (&jose.SignerOptions{}).WithType("JWT").
		WithHeader("x5t#S256", base64.RawURLEncoding.EncodeToString(sum[:]))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	return &ClientCertificate{cert: cert, signer: signer}, nil
}

// NotAfter is when the certificate expires: an operator should renew it before.
func (c *ClientCertificate) NotAfter() time.Time { return c.cert.NotAfter }

// assertionLifetime is short: each token request gets a fresh assertion.
const assertionLifetime = 5 * time.Minute

// Assertion returns a signed client assertion for the token endpoint audience.
func (c *ClientCertificate) Assertion(clientID, audience string, now time.Time) (string, error) {
	claims := map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": audience,
		"jti": secret.RandomToken(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := c.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// assertionTransport adds a fresh client assertion to every request to the token endpoint:
// x/oauth2 has no hook for it on refreshes, so it goes in at the HTTP layer, for the code
// exchange and refreshes alike.
type assertionTransport struct {
	base     http.RoundTripper
	tokenURL string
	clientID string
	cert     *ClientCertificate
	now      func() time.Time
}

func (t *assertionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || r.URL.String() != t.tokenURL || r.Body == nil {
		return t.base.RoundTrip(r)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, err
	}
	assertion, err := t.cert.Assertion(t.clientID, t.tokenURL, t.now())
	if err != nil {
		return nil, fmt.Errorf("sign client assertion: %w", err)
	}
	form.Del("client_secret")
	form.Set("client_id", t.clientID)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	body := form.Encode()
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(body))), nil }
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r2.Header.Del("Authorization")
	return t.base.RoundTrip(r2)
}
