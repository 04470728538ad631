#!/usr/bin/env bash
# Register (or bring up to date) the watch's own app registration; run as register.sh --watch.
#
#   deploy/entra/register.sh --watch --name depportal-watch --secret-file ./depportal-watch-secret
#
# It holds one Microsoft Graph APPLICATION permission, DeviceManagementServiceConfig.Read.All
# (read only; watch-manifest.json), no redirect URI and no app role: it signs nobody in. The
# permission's ID is looked up in Graph's own service principal rather than written down here.
# Admin consent is printed, not run. --dry-run prints every az command (no az needed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
manifest="$here/watch-manifest.json"
graph_app_id=00000003-0000-0000-c000-000000000000
permission=DeviceManagementServiceConfig.Read.All

usage() {
  cat <<'USAGE'
usage: register.sh --watch --name NAME (--secret-file FILE | --certificate FILE)
                   [--secret-years N] [--new-secret] [--graph-url URL] [--dry-run]

  --name NAME           display name of the watch's registration (e.g. depportal-watch); found
                        by it, created if missing. Not the portal's own registration.
  --secret-file FILE    write a new client secret to FILE (mode 0600), never to the screen
  --certificate FILE    upload this certificate (PEM or DER) as the credential instead
  --secret-years N      lifetime of the client secret in years (default 1)
  --new-secret          add a new secret even if --secret-file already holds one (rotation)
  --graph-url URL       Microsoft Graph for az rest (default https://graph.microsoft.com)
  --dry-run             print every az command instead of running it, with placeholder IDs
USAGE
}
die() { printf 'register.sh --watch: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'register.sh --watch: %s\n\n' "$*" >&2; usage >&2; exit 2; }

name="" secret_file="" certificate="" secret_years=1 new_secret=false dry_run=false
graph_url=https://graph.microsoft.com
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=${2-}; shift 2 || usage_error "--name needs a value" ;;
    --secret-file) secret_file=${2-}; shift 2 || usage_error "--secret-file needs a value" ;;
    --certificate) certificate=${2-}; shift 2 || usage_error "--certificate needs a value" ;;
    --secret-years) secret_years=${2-}; shift 2 || usage_error "--secret-years needs a value" ;;
    --graph-url) graph_url=${2-}; shift 2 || usage_error "--graph-url needs a value" ;;
    --new-secret) new_secret=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done
guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
[ -n "$name" ] || usage_error "--name is required"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9\ ._-]*$ ]] || usage_error "--name may hold letters, digits, spaces and . _ -"
if [ -n "$certificate" ] && [ -n "$secret_file" ]; then usage_error "give either --secret-file or --certificate, not both"; fi
if [ -z "$certificate" ] && [ -z "$secret_file" ]; then usage_error "--secret-file FILE is required, or use --certificate FILE"; fi
[[ "$secret_years" =~ ^[1-9][0-9]*$ ]] || usage_error "--secret-years must be a whole number of years, 1 or more"
[ -r "$manifest" ] || die "cannot read $manifest"
grep -q "\"$permission\"" "$manifest" || die "watch-manifest.json does not ask for $permission"
graph_url=${graph_url%/}
$dry_run || command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed; --dry-run shows what it would run"

. "$here/az-steps.sh"
$dry_run && section "dry run: nothing is changed; IDs below are placeholders"

section "the watch's app registration '$name'"
tenant_id=$(query 11111111-1111-1111-1111-111111111111 az account show --query tenantId -o tsv)
[[ "$tenant_id" =~ $guid ]] || die "az account show gave no tenant ID: sign in with az login (--allow-no-subscriptions)"
app_id=$(query "" az ad app list --display-name "$name" --query "[?displayName=='$name'].appId" -o tsv)
created=false
[ "$(printf '%s' "$app_id" | grep -c .)" -le 1 ] || die "several app registrations are named '$name'; delete the extra ones or pick another --name"
if [ -z "$app_id" ]; then
  app_id=$(query 55555555-5555-5555-5555-555555555555 az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg --query appId -o tsv)
  created=true
fi
[[ "$app_id" =~ $guid ]] || die "could not read the app's appId"
# The portal's registration has app roles and redirect URIs; a registration that has them is
# not the watch's, and giving it an application permission is what decision 0011 forbids.
roles=$(query 0 az ad app show --id "$app_id" --query "length(appRoles)" -o tsv)
[ "${roles:-0}" = 0 ] || die "'$name' defines app roles: it looks like the portal's registration; the watch needs its own"

section "Microsoft Graph application permission $permission (read only)"
role_id=$(query 66666666-6666-6666-6666-666666666666 az ad sp show --id "$graph_app_id" \
  --query "appRoles[?value=='$permission'].id | [0]" -o tsv)
[[ "$role_id" =~ $guid ]] || die "Graph has no application permission named $permission"
run az ad app update --id "$app_id" --required-resource-accesses \
  "[{\"resourceAppId\":\"$graph_app_id\",\"resourceAccess\":[{\"id\":\"$role_id\",\"type\":\"Role\"}]}]"

section "enterprise application"
sp_id=$(query "" az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)
[ -n "$sp_id" ] || sp_id=$(query 77777777-7777-7777-7777-777777777777 az ad sp create --id "$app_id" --query id -o tsv)
[[ "$sp_id" =~ $guid ]] || die "could not read the service principal's id"

section "credential"
if [ -n "$certificate" ]; then
  [ -r "$certificate" ] || die "cannot read the certificate $certificate"
  run az ad app credential reset --id "$app_id" --cert "@$certificate" --append --output none
elif [ -s "$secret_file" ] && ! $new_secret && ! $created; then
  say "$secret_file already holds a secret: keeping it (--new-secret adds another)"
else
  secret=$(query "(dry run: no secret)" az ad app credential reset --id "$app_id" --append \
    --years "$secret_years" --display-name depportal-watch --query password -o tsv)
  if $dry_run; then
    say "# would write the secret to $secret_file (mode 0600)"
  else
    [ -n "$secret" ] || die "az ad app credential reset returned no secret"
    (umask 077 && printf '%s\n' "$secret" >"$secret_file.tmp.$$") && chmod 600 "$secret_file.tmp.$$" && mv -f "$secret_file.tmp.$$" "$secret_file"
    say "new client secret (valid $secret_years year(s)) written to $secret_file (mode 0600); note its expiry"
  fi
  unset secret
fi

section "admin consent (an application permission always needs it): ask an administrator to run ONE of"
say "  az ad app permission admin-consent --id $app_id"
say "  or open https://login.microsoftonline.com/$tenant_id/adminconsent?client_id=$app_id"

section "environment for depportal (beside the ENTRA_* of the portal's own registration)"
say "DEPPORTAL_WATCH_CLIENT_ID=$app_id"
if [ -n "$certificate" ]; then
  say "DEPPORTAL_WATCH_CLIENT_CERTIFICATE=<path to a PEM file with this certificate AND its RSA private key>"
else
  say "DEPPORTAL_WATCH_CLIENT_SECRET=\$(cat $secret_file)   # the value is in that file, not shown here"
fi
say "then check it: depportal watch once"
