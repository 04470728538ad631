package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The watch's registration holds one application permission, read only, and nothing that
// signs a person in: no redirect URI, no app role.
func TestWatchManifestIsReadOnly(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(root, "deploy/entra/watch-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"web", "appRoles", "requiredResourceAccess"} {
		if _, ok := m[k]; ok {
			t.Errorf("watch-manifest.json has %s", k)
		}
	}
	perms, _ := m["requiredApplicationPermissions"].(map[string]any)
	values, _ := perms["values"].([]any)
	if len(values) != 1 || values[0] != "DeviceManagementServiceConfig.Read.All" {
		t.Errorf("application permissions %v, want DeviceManagementServiceConfig.Read.All only", values)
	}
}

func TestRegisterWatchDryRun(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("bash", filepath.Join(root, "deploy/entra/register.sh"), "--watch", "--dry-run",
		"--name", "depportal-watch", "--secret-file", filepath.Join(t.TempDir(), "secret")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"az ad app create --display-name depportal-watch --sign-in-audience AzureADMyOrg",
		`appRoles[?value=='\''DeviceManagementServiceConfig.Read.All'\''].id`,
		`"type":"Role"`,
		"az ad sp create",
		"az ad app permission admin-consent",
		"DEPPORTAL_WATCH_CLIENT_ID=",
		"DEPPORTAL_WATCH_CLIENT_SECRET=$(cat ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dry run lacks %q:\n%s", want, text)
		}
	}
	for _, never := range []string{"ReadWrite", "--web-redirect-uris", "appRoleAssignmentRequired"} {
		if strings.Contains(text, never) {
			t.Errorf("the watch's registration gets %q", never)
		}
	}
	if bad, err := exec.Command("bash", filepath.Join(root, "deploy/entra/register.sh"), "--watch", "--dry-run", "--name", "w").CombinedOutput(); err == nil {
		t.Errorf("no credential given, yet it ran:\n%s", bad)
	}
}
