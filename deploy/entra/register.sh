#!/usr/bin/env bash
# Register (or bring up to date) depportal's app registration in Entra ID with the Azure CLI.
#
#   deploy/entra/register.sh --name depportal --public-url https://depportal.contoso.com \
#       --upload-group <helpdesk group object ID> --audit-group <audit group object ID> \
#       --secret-file ./depportal-client-secret
#
# Idempotent: run it again after changing the URL or the groups. It finds the app by display
# name, creates or updates it from manifest.json (beside this script: app roles with fixed IDs,
# the delegated Microsoft Graph permissions, the web redirect URIs (the sign-in callback and
# /signed-out, where sign-out returns: Entra returns only to a registered redirect URI), the
# front-channel logout URL, and the ID token's optional claims sid, login_hint and acct), makes sure the
# enterprise application (service principal) exists with "assignment required", assigns the
# groups to the app roles, and adds a client secret (or a certificate).
#
# Admin consent is printed, not run: it needs a Global Administrator or Privileged Role
# Administrator. --dry-run prints every az command instead of running it (no az needed).
# Needs: bash, the Azure CLI (signed in: az login), and jq or python3 to read manifest.json.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# --watch registers the watch's own, second registration instead (register-watch.sh).
if [ "${1-}" = "--watch" ]; then
  shift
  exec bash "$here/register-watch.sh" "$@"
fi
manifest="$here/manifest.json"
graph_app_id=00000003-0000-0000-c000-000000000000
upload_role=DepToken.Upload
audit_role=DepToken.Audit

usage() {
  cat <<'EOF'
usage: register.sh --name NAME --public-url URL (--secret-file FILE | --certificate FILE)
                   [--upload-group GROUP_ID] [--audit-group GROUP_ID] [--secret-years N]
                   [--new-secret] [--graph-url URL] [--dry-run]

  --name NAME           display name of the app registration (found by it, created if missing)
  --public-url URL      the portal's address, DEPPORTAL_PUBLIC_URL (https://host, no path);
                        the redirect URIs are URL/auth/callback and URL/signed-out, the
                        front-channel logout URL URL/auth/front-channel-logout. The app's web
                        redirect URIs are set to exactly these.
  --upload-group ID     object ID of the group to assign DepToken.Upload (helpdesk)
  --audit-group ID      object ID of the group to assign DepToken.Audit (security, audit)
  --secret-file FILE    write a new client secret to FILE (mode 0600), never to the screen.
                        An existing non-empty FILE is kept (no new secret) unless --new-secret
                        or the app was just created.
  --secret-years N      lifetime of the client secret in years (default 1)
  --new-secret          add a new secret even if --secret-file already holds one (rotation)
  --certificate FILE    upload this certificate (PEM or DER) as a credential instead of
                        creating a secret
  --graph-url URL       Microsoft Graph for `az rest` (default https://graph.microsoft.com;
                        national clouds: https://graph.microsoft.us, ...)
  --dry-run             print every az command instead of running it, with placeholder IDs
EOF
}

die() { printf 'register.sh: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'register.sh: %s\n\n' "$*" >&2; usage >&2; exit 2; }

name="" public_url="" upload_group="" audit_group="" secret_file="" certificate=""
secret_years=1 new_secret=false dry_run=false graph_url=https://graph.microsoft.com
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=${2-}; shift 2 || usage_error "--name needs a value" ;;
    --public-url) public_url=${2-}; shift 2 || usage_error "--public-url needs a value" ;;
    --upload-group) upload_group=${2-}; shift 2 || usage_error "--upload-group needs a value" ;;
    --audit-group) audit_group=${2-}; shift 2 || usage_error "--audit-group needs a value" ;;
    --secret-file) secret_file=${2-}; shift 2 || usage_error "--secret-file needs a value" ;;
    --secret-years) secret_years=${2-}; shift 2 || usage_error "--secret-years needs a value" ;;
    --certificate) certificate=${2-}; shift 2 || usage_error "--certificate needs a value" ;;
    --graph-url) graph_url=${2-}; shift 2 || usage_error "--graph-url needs a value" ;;
    --new-secret) new_secret=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

# --- checks -------------------------------------------------------------------------------------
guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
[ -n "$name" ] || usage_error "--name is required"
# The name goes into an OData/JMESPath filter: keep it plain.
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9\ ._-]*$ ]] || usage_error "--name may hold letters, digits, spaces and . _ -"
[ -n "$public_url" ] || usage_error "--public-url is required"
public_url=${public_url%/}
if [[ ! "$public_url" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?$ ]] &&
   [[ ! "$public_url" =~ ^http://(localhost|127\.0\.0\.1)(:[0-9]+)?$ ]]; then
  usage_error "--public-url must be https://host[:port] with no path (http only for localhost): $public_url"
fi
for g in "$upload_group" "$audit_group"; do
  [ -z "$g" ] || [[ "$g" =~ $guid ]] || usage_error "group IDs are object IDs (GUIDs), not names: $g"
done
if [ -n "$certificate" ] && [ -n "$secret_file" ]; then
  usage_error "give either --secret-file or --certificate, not both"
fi
if [ -z "$certificate" ] && [ -z "$secret_file" ]; then
  usage_error "--secret-file FILE is required (the secret is written there, never printed), or use --certificate FILE"
fi
[[ "$secret_years" =~ ^[1-9][0-9]*$ ]] || usage_error "--secret-years must be a whole number of years, 1 or more"
[ -z "$certificate" ] || [ -r "$certificate" ] || die "cannot read the certificate $certificate"
if [ -n "$secret_file" ]; then
  [ -d "$(dirname "$secret_file")" ] || die "the folder for --secret-file does not exist: $(dirname "$secret_file")"
fi
graph_url=${graph_url%/}
[ -r "$manifest" ] || die "cannot read $manifest"

json_tool=${DEPPORTAL_JSON_TOOL:-}
if [ -z "$json_tool" ]; then
  if command -v jq >/dev/null 2>&1; then json_tool=jq
  elif command -v python3 >/dev/null 2>&1; then json_tool=python3
  else die "jq or python3 is needed to read manifest.json (apt-get install jq)"
  fi
fi
case "$json_tool" in jq|python3) command -v "$json_tool" >/dev/null 2>&1 || die "$json_tool not found" ;;
  *) die "DEPPORTAL_JSON_TOOL must be jq or python3" ;; esac

if ! $dry_run; then
  command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed; --dry-run shows what it would run"
fi

# --- running az, or showing it ------------------------------------------------------------------
. "$here/az-steps.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- files derived from manifest.json -----------------------------------------------------------
# app-roles.json, resource-access.json and optional-claims.json are the manifest's appRoles,
# requiredResourceAccess and optionalClaims; web.json is its web section with the example host
# replaced by --public-url; redirect-uris.txt its redirect URIs, one a line.
derive() {
  case "$json_tool" in
    jq)
      jq '.appRoles' "$manifest" >"$work/app-roles.json"
      jq '.requiredResourceAccess' "$manifest" >"$work/resource-access.json"
      jq '.optionalClaims' "$manifest" >"$work/optional-claims.json"
      jq --arg base "$public_url" '{web: (.web
          | .redirectUris |= map(sub("^https?://[^/]+"; $base))
          | .logoutUrl |= sub("^https?://[^/]+"; $base))}' "$manifest" >"$work/web.json"
      jq -r '.web.redirectUris[]' "$work/web.json" >"$work/redirect-uris.txt"
      jq -r '.appRoles[] | "\(.value) \(.id)"' "$manifest" >"$work/roles.txt"
      jq -r --arg g "$graph_app_id" '.requiredResourceAccess[] | select(.resourceAppId == $g)
          | .resourceAccess[] | select(.type == "Scope") | .id' "$manifest" >"$work/scopes.txt"
      ;;
    python3)
      python3 - "$manifest" "$work" "$public_url" "$graph_app_id" <<'PY'
import json, re, sys
manifest, work, base, graph = sys.argv[1:5]
m = json.load(open(manifest))
def dump(name, value):
    with open(f"{work}/{name}", "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
dump("app-roles.json", m["appRoles"])
dump("resource-access.json", m["requiredResourceAccess"])
dump("optional-claims.json", m["optionalClaims"])
web = dict(m["web"])
swap = lambda u: re.sub(r"^https?://[^/]+", lambda _: base, u)
web["redirectUris"] = [swap(u) for u in web["redirectUris"]]
web["logoutUrl"] = swap(web["logoutUrl"])
dump("web.json", {"web": web})
with open(f"{work}/redirect-uris.txt", "w") as f:
    for u in web["redirectUris"]:
        f.write(u + "\n")
with open(f"{work}/roles.txt", "w") as f:
    for r in m["appRoles"]:
        f.write(f"{r['value']} {r['id']}\n")
with open(f"{work}/scopes.txt", "w") as f:
    for r in m["requiredResourceAccess"]:
        if r["resourceAppId"] == graph:
            for a in r["resourceAccess"]:
                if a["type"] == "Scope":
                    f.write(a["id"] + "\n")
PY
      ;;
  esac
}
derive
manifest_role_id() { awk -v v="$1" '$1 == v { print $2 }' "$work/roles.txt"; }
for role in "$upload_role" "$audit_role"; do
  [[ "$(manifest_role_id "$role")" =~ $guid ]] || die "manifest.json has no app role $role with a GUID id"
done
redirect_uri="$public_url/auth/callback"
grep -qxF "$redirect_uri" "$work/redirect-uris.txt" || die "manifest.json's web.redirectUris has no /auth/callback"
# Entra sends the browser back after sign-out only to a registered redirect URI.
grep -qxF "$public_url/signed-out" "$work/redirect-uris.txt" || die "manifest.json's web.redirectUris has no /signed-out"
mapfile -t redirect_uris <"$work/redirect-uris.txt"

if $dry_run; then
  section "dry run: nothing is changed; IDs below are placeholders"
  for f in app-roles.json resource-access.json optional-claims.json web.json; do
    say "# $f (from $(basename "$manifest")):"
    sed 's/^/#   /' "$work/$f" >&3
  done
fi

# --- 1. the app registration --------------------------------------------------------------------
section "app registration '$name'"
tenant_id=$(query 11111111-1111-1111-1111-111111111111 az account show --query tenantId -o tsv)
[[ "$tenant_id" =~ $guid ]] || die "az account show gave no tenant ID: sign in with az login (--allow-no-subscriptions)"
app_id=$(query "" az ad app list --display-name "$name" --query "[?displayName=='$name'].appId" -o tsv)
created=false
if [ "$(printf '%s' "$app_id" | grep -c .)" -gt 1 ]; then
  die "several app registrations are named '$name' ($(tr '\n' ' ' <<<"$app_id")); delete the extra ones or pick another --name"
fi
common=(--sign-in-audience AzureADMyOrg --web-redirect-uris "${redirect_uris[@]}"
  --enable-id-token-issuance false --enable-access-token-issuance false
  --app-roles "@$work/app-roles.json" --required-resource-accesses "@$work/resource-access.json"
  --optional-claims "@$work/optional-claims.json")
if [ -z "$app_id" ]; then
  say "no app named '$name' yet: creating it"
  app_id=$(query 22222222-2222-2222-2222-222222222222 az ad app create --display-name "$name" "${common[@]}" --query appId -o tsv)
  created=true
else
  say "found app $app_id: updating it"
  run az ad app update --id "$app_id" "${common[@]}"
fi
[[ "$app_id" =~ $guid ]] || die "could not read the new app's appId"
object_id=$(query 33333333-3333-3333-3333-333333333333 az ad app show --id "$app_id" --query id -o tsv)
# az has no option for the front-channel logout URL: PATCH the whole web section through Graph
# (it replaces the section: redirect URIs, logout URL, implicit grant both off).
run az rest --method PATCH --uri "$graph_url/v1.0/applications/$object_id" \
  --headers Content-Type=application/json --body "@$work/web.json"

# --- 2. the enterprise application (service principal) -----------------------------------------
section "enterprise application"
sp_id=$(query "" az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)
if [ -z "$sp_id" ]; then
  sp_id=$(query 44444444-4444-4444-4444-444444444444 az ad sp create --id "$app_id" --query id -o tsv)
fi
[[ "$sp_id" =~ $guid ]] || die "could not read the service principal's id"
# Only people assigned an app role (through the groups) may sign in at all.
run az ad sp update --id "$sp_id" --set appRoleAssignmentRequired=true

# --- 3. delegated permissions (declared by the create/update above; checked here) --------------
section "Microsoft Graph delegated permissions"
declared=$(query "$(tr '\n' ' ' <"$work/scopes.txt")" az ad app permission list --id "$app_id" \
  --query "[?resourceAppId=='$graph_app_id'].resourceAccess[].id" -o tsv | tr -s ' \n' '  ')
while read -r scope; do
  case " $declared " in
    *" $scope "*) ;;
    *) die "permission $scope from manifest.json is missing on the app after the update" ;;
  esac
done <"$work/scopes.txt"
say "declared: openid, profile, offline_access, DeviceManagementServiceConfig.ReadWrite.All (delegated; admin consent below)"

# --- 4. app roles for the groups ----------------------------------------------------------------
assign() { # assign ROLE_VALUE GROUP_ID
  local role=$1 group=$2 role_id count body
  role_id=$(query "$(manifest_role_id "$role")" az ad app show --id "$app_id" \
    --query "appRoles[?value=='$role'].id | [0]" -o tsv)
  [[ "$role_id" =~ $guid ]] || die "the app has no app role $role"
  count=$(query 0 az rest --method GET --uri "$graph_url/v1.0/servicePrincipals/$sp_id/appRoleAssignedTo?\$top=999" \
    --query "length(value[?principalId=='$group' && appRoleId=='$role_id'])" -o tsv)
  if [ "${count:-0}" != 0 ]; then
    say "group $group already has $role"
    return
  fi
  body="$work/assign-$role.json"
  printf '{"principalId": "%s", "resourceId": "%s", "appRoleId": "%s"}\n' "$group" "$sp_id" "$role_id" >"$body"
  $dry_run && say "# $(basename "$body"): $(cat "$body")"
  run az rest --method POST --uri "$graph_url/v1.0/servicePrincipals/$sp_id/appRoleAssignedTo" \
    --headers Content-Type=application/json --body "@$body" --output none
}
if [ -n "$upload_group" ] || [ -n "$audit_group" ]; then
  section "app role assignments"
  [ -z "$upload_group" ] || assign "$upload_role" "$upload_group"
  [ -z "$audit_group" ] || assign "$audit_role" "$audit_group"
else
  section "app role assignments: none (no --upload-group/--audit-group)"
  say "assign groups later: Enterprise applications > $name > Users and groups"
fi

# --- 5. the credential --------------------------------------------------------------------------
section "credential"
if [ -n "$certificate" ]; then
  run az ad app credential reset --id "$app_id" --cert "@$certificate" --append --output none
elif [ -s "$secret_file" ] && ! $new_secret && ! $created; then
  say "$secret_file already holds a secret: keeping it (--new-secret adds another)"
else
  secret=$(query "(dry run: no secret)" az ad app credential reset --id "$app_id" --append \
    --years "$secret_years" --display-name depportal --query password -o tsv)
  if $dry_run; then
    say "# would write the secret to $secret_file (mode 0600)"
  else
    [ -n "$secret" ] || die "az ad app credential reset returned no secret"
    (umask 077 && printf '%s\n' "$secret" >"$secret_file.tmp.$$") && chmod 600 "$secret_file.tmp.$$" &&
      mv -f "$secret_file.tmp.$$" "$secret_file"
    say "new client secret (valid $secret_years year(s)) written to $secret_file (mode 0600); note its expiry"
  fi
  unset secret
fi

# --- 6. admin consent (printed: needs a Global or Privileged Role Administrator) -----------------
section "admin consent: ask an administrator to run ONE of"
say "  az ad app permission admin-consent --id $app_id"
say "  or open https://login.microsoftonline.com/$tenant_id/adminconsent?client_id=$app_id"
say "  or Entra admin center > App registrations > $name > API permissions > Grant admin consent"

# --- 7. what the portal needs -------------------------------------------------------------------
section "environment for depportal"
say "ENTRA_TENANT_ID=$tenant_id"
say "ENTRA_CLIENT_ID=$app_id"
if [ -n "$certificate" ]; then
  say "ENTRA_CLIENT_CERTIFICATE=<path to a PEM file with this certificate AND its RSA private key>"
else
  say "ENTRA_CLIENT_SECRET=\$(cat $secret_file)   # the value is in that file, not shown here"
fi
say "DEPPORTAL_PUBLIC_URL=$public_url"
say "DEPPORTAL_SESSION_KEY=\$(openssl rand -base64 32)   # once; keep it"
say ""
say "Also give the helpdesk an Intune role with Enrollment programs: Read token + Update token"
say "(docs/entra-setup.md, section 4)."
