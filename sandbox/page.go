package sandbox

import "html/template"

// page parses one of the sandbox's own pages into the frame they share: the portal's
// stylesheet, the sandbox banner and one <main> holding main. title may use the page's data
// ({{.Title}}). No script and no inline style, so that the pages pass the portal's CSP unchanged.
func page(name, title, main string) *template.Template {
	return template.Must(template.New(name).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>` + title + `</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<div class="sandbox-banner" role="note">Sandbox — not connected to a real tenant</div>
<main>
` + main + `</main>
</body>
</html>
`))
}
