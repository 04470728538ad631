package auth

import "testing"

// Cases after oauth2-proxy's redirect validator tests: everything a browser could resolve to
// another origin falls back to "/".
func TestSafeReturnTo(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/settings/abc", "/settings/abc"},
		{"/audit?actor=x&page=2", "/audit?actor=x&page=2"},
		{"/settings/abc#review", "/settings/abc#review"},
		{"", "/"},
		{"settings", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"http:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/%2F%2Fevil.example", "/"},
		{"/%2fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%252F%252Fevil.example", "/"},
		{"/ok\r\nSet-Cookie: x=y", "/"},
		{"/ok%0d%0aLocation:%20https://evil.example", "/"},
		{"/%00", "/"},
		{"/%zz", "/"},
		{" /leading-space", "/"},
		{"/" + string(make([]byte, 3000)), "/"},
	}
	for _, tt := range tests {
		if got := SafeReturnTo(tt.in); got != tt.want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
