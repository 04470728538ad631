// Package static holds the portal's stylesheet and its one progressive-enhancement script,
// embedded in the binary so nothing is fetched from another origin.
package static

import "embed"

// FS holds app.css, app.js and favicon.svg.
//
//go:embed app.css app.js favicon.svg
var FS embed.FS
