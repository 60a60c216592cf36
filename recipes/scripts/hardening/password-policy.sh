#!/usr/bin/env bash
# Local password policy (CIS-style): pwquality complexity, password ageing
# in login.defs for newly created accounts, and faillock lockout after
# repeated failures. Every edit is a full-file rewrite or an in-place
# substitution, so repeated runs give the same result.
set -euo pipefail

# --- Complexity: pwquality drop-in -----------------------------------------
install -d -m 0755 /etc/security/pwquality.conf.d
cat > /etc/security/pwquality.conf.d/50-bakery.conf <<'CONF'
# Managed by bakery (recipes/scripts/hardening/password-policy.sh).
minlen = 14
minclass = 4
dcredit = -1
ucredit = -1
lcredit = -1
ocredit = -1
maxrepeat = 3
difok = 5
enforce_for_root
CONF
chmod 0644 /etc/security/pwquality.conf.d/50-bakery.conf

# --- Ageing: login.defs ------------------------------------------------------
# Replace an active setting in place, else append it once. Commented lines
# are left alone (login.defs has "#\tPASS_MAX_DAYS\t..." documentation lines).
set_login_def() {
    local key="$1" value="$2" file=/etc/login.defs
    if grep -Eq "^[[:space:]]*${key}[[:space:]]" "${file}"; then
        sed -ri "s/^[[:space:]]*${key}[[:space:]].*/${key}\t${value}/" "${file}"
    else
        printf '%s\t%s\n' "${key}" "${value}" >> "${file}"
    fi
}
set_login_def PASS_MAX_DAYS 365
set_login_def PASS_MIN_DAYS 1
set_login_def PASS_WARN_AGE 7

# --- Lockout: faillock.conf --------------------------------------------------
# Same approach for "key = value" lines; the shipped defaults are comments.
set_faillock() {
    local key="$1" value="$2" file=/etc/security/faillock.conf
    touch "${file}"
    if grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "${file}"; then
        sed -ri "s/^[[:space:]]*${key}[[:space:]]*=.*/${key} = ${value}/" "${file}"
    else
        printf '%s = %s\n' "${key}" "${value}" >> "${file}"
    fi
}
set_faillock deny 5
set_faillock unlock_time 900

# faillock.conf only matters if pam_faillock is in the PAM stack; turn it on
# where authselect manages PAM (enable-feature is a no-op if already set).
if command -v authselect >/dev/null 2>&1 && authselect current >/dev/null 2>&1; then
    authselect enable-feature with-faillock >/dev/null
fi

echo "password policy applied"
