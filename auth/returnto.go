package auth

import (
	"net/url"
	"strings"
)

// SafeReturnTo returns target if it is a path on this site, else "/". Browsers treat "//host",
// "/\host" and schemes as other origins, and decode percent-escapes before deciding, so
// anything that is not plainly a local absolute path is refused rather than cleaned.
func SafeReturnTo(target string) string {
	const fallback = "/"
	if target == "" || len(target) > 2048 || target[0] != '/' {
		return fallback
	}
	decoded := target
	// Decode repeatedly: "%252F%252F" becomes "//" after two rounds in some proxies.
	for range 3 {
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return fallback
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for _, s := range []string{target, decoded} {
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return fallback
		}
		if strings.ContainsAny(s, "\r\n\t\x00\\") {
			return fallback
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	return target
}
