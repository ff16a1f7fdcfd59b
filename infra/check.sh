#!/usr/bin/env bash
# Checks both deployments offline: lints and validates the SAM template, tests and synthesizes
# the CDK app, lints its template, and compares the two (infra/parity.py). Each of the table's two
# capacity modes (TableCapacity on-demand, the default, and provisioned with auto scaling) is
# checked on its own: the SAM template with that default, the CDK app synthesized with
# -c tableCapacity=..., and their parity. Run from the repo root:
#
#   bash infra/check.sh
#
# Needs Python 3, Node.js and npm; installs cfn-lint and the SAM CLI into target/infratools and
# the CDK app's packages into infra/cdk/node_modules (the registries are the only network use).
# The synth packages the Lambda binaries from ${HOOKLINE_LAMBDA_DIR:-target/lambda}, built by
#   cargo lambda build --release --x86-64 -p hookline-functions
# HOOKLINE_DUMMY_BINARIES=1 synthesizes with placeholder binaries instead (a template to check,
# not to deploy).

set -euo pipefail

if [[ ! -f infra/template.yaml || ! -d infra/cdk ]]; then
  echo "check.sh: run from the repository root (bash infra/check.sh)" >&2
  exit 2
fi
ROOT=$(pwd)
VENV="$ROOT/target/infratools"
CDK_DIR="$ROOT/infra/cdk"
TEMPLATE="$CDK_DIR/cdk.out/HooklineStack.template.json"
# The provisioned mode's templates: the SAM template with TableCapacity's default switched, and
# the CDK app's synth with -c tableCapacity=provisioned.
PROVISIONED_DIR="$ROOT/target/tmp/infra-provisioned"
PROVISIONED_SAM="$PROVISIONED_DIR/template.yaml"
PROVISIONED_CDK_OUT="$PROVISIONED_DIR/cdk.out"
PROVISIONED_TEMPLATE="$PROVISIONED_CDK_OUT/HooklineStack.template.json"
BINS=(api fanout delivery notify)

# Offline AWS tooling: a region, dummy credentials, no telemetry, no CDK version or notice checks.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export SAM_CLI_TELEMETRY=0 CDK_DISABLE_VERSION_CHECK=true

step_started=0
start() { step_started=$(date +%s); }
ok() { echo "OK $1 ($(($(date +%s) - step_started))s)"; }

# The binaries first: without them the run would fail after the slow steps.
if [[ "${HOOKLINE_DUMMY_BINARIES:-0}" == 1 ]]; then
  LAMBDA_DIR="$ROOT/target/tmp/infra-dummy-lambda"
  for bin in "${BINS[@]}"; do
    mkdir -p "$LAMBDA_DIR/$bin"
    printf 'placeholder: not a Lambda binary\n' >"$LAMBDA_DIR/$bin/bootstrap"
  done
else
  LAMBDA_DIR=$(realpath -m "${HOOKLINE_LAMBDA_DIR:-target/lambda}")
  for bin in "${BINS[@]}"; do
    if [[ ! -f "$LAMBDA_DIR/$bin/bootstrap" ]]; then
      echo "check.sh: $LAMBDA_DIR/$bin/bootstrap is missing. Build the functions first:" >&2
      echo "  cargo lambda build --release --x86-64 -p hookline-functions" >&2
      echo "(or set HOOKLINE_LAMBDA_DIR, or HOOKLINE_DUMMY_BINARIES=1 to check with placeholders)" >&2
      exit 1
    fi
  done
fi

# --- Tools -----------------------------------------------------------------------------------

start
tools_current() {
  [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    ok = all(version(p).split(".")[0] == "1" for p in ("cfn-lint", "aws-sam-cli"))
except PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
EOF
}
if ! tools_current; then
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint>=1,<2' 'aws-sam-cli>=1,<2'
fi
ok "tools: cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}'), SAM CLI $("$VENV/bin/sam" --version | awk '{print $NF}')"

# --- SAM -------------------------------------------------------------------------------------

start
"$VENV/bin/cfn-lint" infra/template.yaml
ok "cfn-lint infra/template.yaml"

start
"$VENV/bin/sam" validate --lint -t infra/template.yaml >/dev/null
ok "sam validate --lint"

# The same template with provisioned capacity as the default, as `sam deploy` takes it with
# TableCapacity=provisioned. (cfn-lint follows both branches of the ProvisionedCapacity condition
# in the template itself too; this validates the provisioned one as what is deployed.)
start
mkdir -p "$PROVISIONED_DIR"
"$VENV/bin/python" - infra/template.yaml "$PROVISIONED_SAM" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
pattern = re.compile(r"(\n  TableCapacity:\n    Type: String\n    Default: )on-demand\n")
out, n = pattern.subn(r"\1provisioned\n", text)
if n != 1:
    sys.exit("check.sh: no TableCapacity parameter with Default: on-demand in infra/template.yaml")
open(sys.argv[2], "w", encoding="utf-8").write(out)
PY
"$VENV/bin/cfn-lint" "$PROVISIONED_SAM"
"$VENV/bin/sam" validate --lint -t "$PROVISIONED_SAM" >/dev/null
ok "cfn-lint and sam validate --lint (TableCapacity=provisioned)"

# --- CDK -------------------------------------------------------------------------------------

start
lock_sum=$(sha256sum "$CDK_DIR/package-lock.json" | cut -d' ' -f1)
stamp="$CDK_DIR/node_modules/.hookline-lock-sha256"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]]; then
  (cd "$CDK_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" >"$stamp"
  ok "npm ci"
else
  ok "npm ci (node_modules matches package-lock.json)"
fi

start
(cd "$CDK_DIR" && npx tsc --noEmit -p .)
ok "tsc (CDK app and tests type-check)"

start
test_log=$(mktemp)
if ! (cd "$CDK_DIR" && npm test --silent) >"$test_log" 2>&1; then
  cat "$test_log"
  rm -f "$test_log"
  echo "FAILED CDK tests" >&2
  exit 1
fi
passed=$(awk '/^# pass /{print $3}' "$test_log")
rm -f "$test_log"
ok "CDK tests ($passed passed)"

start
# Synthesize for the architecture the binaries are built for (arm64, the default, for
# placeholders), and compare with the SAM template for that same architecture.
ARCH=$("$VENV/bin/python" - "$LAMBDA_DIR/api/bootstrap" <<'EOF'
import sys
head = open(sys.argv[1], "rb").read(20)
machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None
print({0x3E: "x86_64", 0xB7: "arm64"}.get(machine, "arm64"))
EOF
)
rm -rf "$CDK_DIR/cdk.out" "$PROVISIONED_CDK_OUT"
# (NODE_NO_WARNINGS: the CLI's AWS SDK warns about Node.js versions on every run.)
(cd "$CDK_DIR" && NODE_NO_WARNINGS=1 npx cdk synth --quiet --no-notices \
  -c binariesDir="$LAMBDA_DIR" -c architecture="$ARCH" >/dev/null)
ok "cdk synth ($ARCH, binaries from ${LAMBDA_DIR#"$ROOT/"})"

start
(cd "$CDK_DIR" && NODE_NO_WARNINGS=1 npx cdk synth --quiet --no-notices --output "$PROVISIONED_CDK_OUT" \
  -c binariesDir="$LAMBDA_DIR" -c architecture="$ARCH" -c tableCapacity=provisioned >/dev/null)
ok "cdk synth ($ARCH, tableCapacity=provisioned)"

for mode in on-demand provisioned; do
  template=$TEMPLATE
  if [[ $mode == provisioned ]]; then template=$PROVISIONED_TEMPLATE; fi

  start
  # Errors only: CDK's output always has W3005 (a DependsOn the Role's GetAtt already implies).
  set +e
  "$VENV/bin/cfn-lint" --ignore-checks W3005 -- "$template"
  lint=$?
  set -e
  if ((lint & 2)); then
    echo "FAILED cfn-lint on the CDK template (tableCapacity=$mode)" >&2
    exit 1
  fi
  ok "cfn-lint on the CDK template (tableCapacity=$mode)"

  start
  parity=$("$VENV/bin/python" infra/parity.py --cdk "$template" --sam-param Architecture="$ARCH" \
    --sam-param TableCapacity="$mode") || {
    echo "$parity"
    exit 1
  }
  ok "$parity (TableCapacity=$mode)"
done
