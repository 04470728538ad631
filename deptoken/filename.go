package deptoken

import (
	"regexp"
	"strings"
	"time"
)

// abmFileName is the name Apple Business/School Manager gives the download,
// optionally with the " (1)" or "-1" a browser adds to a second copy.
var abmFileName = regexp.MustCompile(`^(.+)_Token_(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)_smime(?: ?\(\d+\)|-\d+)?\.p7m$`)

// parseFileName reads the MDM server name and download time out of Apple's
// file name. The time matters because the token expires one year after it.
func parseFileName(name string) (server string, downloadedAt *time.Time) {
	// Old browsers send the client's full path; either separator may appear.
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if len(name) > 512 {
		return "", nil
	}
	m := abmFileName.FindStringSubmatch(name)
	if m == nil {
		return "", nil
	}
	t, err := time.Parse("2006-01-02T15-04-05Z", m[2])
	if err != nil {
		return "", nil
	}
	return m[1], &t
}
