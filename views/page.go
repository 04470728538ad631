// Package views renders the portal's pages with templ. Components take view models (plain
// structs of strings and numbers) and never call services: no auth, graph or store imports.
package views

// Page is what every page's layout needs.
type Page struct {
	Title     string
	Sandbox   bool
	User      *User  // nil when nobody is signed in
	CSRFToken string // for the sign-out form and every other form
}

// User is the signed-in person as shown in the header.
type User struct {
	Name     string
	Username string
	TenantID string
	ObjectID string
	Roles    []string // the portal roles held, e.g. DepToken.Upload
}

// Problem is an error or notice page: what happened, and what to do next.
type Problem struct {
	Status    int
	Heading   string
	Message   string
	Next      string // what to do now, one sentence
	RequestID string // for a support ticket
	Actions   []Link
}

// Link is a call to action.
type Link struct {
	Label string
	Href  string
}

// Home is the landing page after sign-in.
type Home struct {
	CanUpload    bool
	CanAudit     bool
	UploaderRole string
	AuditorRole  string
}
