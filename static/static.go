// Package static holds the portal's stylesheet and its one progressive-enhancement script,
// embedded in the binary so nothing is fetched from another origin.
package static

import "embed"

// FS holds app.css and app.js.
//
//go:embed app.css app.js
var FS embed.FS
