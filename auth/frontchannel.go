package auth

import (
	"context"
	"errors"
)

// ErrFrontChannel: a front-channel logout call that names another issuer, or no session.
var ErrFrontChannel = errors.New("front-channel logout for another issuer or without a sid")

// EndProviderSession is front-channel logout: the provider ended its session sid (the person
// signed out of Entra ID, in this portal or any other app), and every portal session that
// session signed in ends with it. It takes no cookie: Entra calls from a hidden cross-site
// iframe, where the SameSite=Lax session cookie is not sent. iss must be the provider's own
// issuer, since a sid is unique only within its issuer.
func (s *Sessions) EndProviderSession(ctx context.Context, flow *SignIn, iss, sid string) (int64, error) {
	if sid == "" || len(sid) > 256 || iss != flow.Issuer() {
		return 0, ErrFrontChannel
	}
	return s.store.DeleteSessionsBySID(ctx, sid)
}
