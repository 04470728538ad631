// Package entra knows the shape of Microsoft Entra ID's identifiers: directory (tenant),
// application (client) and object IDs, which are GUIDs. config checks the IDs an operator
// sets against it, auth the oid of every ID token, handlers the actor an auditor filters on.
//
// It must never import another package of the portal nor touch the network: it is the
// bottom that config, auth and handlers share without depending on each other.
package entra

import "regexp"

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s has the form of an Entra ID identifier (tenant, object, client):
// 8-4-4-4-12 hexadecimal digits, nothing around them.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }
