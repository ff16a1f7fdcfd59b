#!/usr/bin/env bash
# Runs Hookline's whole test suite:
#   1. the Lambda functions are built for release with cargo-lambda (target/lambda/<fn>/bootstrap);
#   2. both deployments are checked offline (infra/check.sh: cfn-lint and `sam validate` on the
#      SAM template, the CDK app's type check, assertion tests and synth, cfn-lint on its output,
#      and the SAM/CDK parity check);
#   3. Schemathesis fuzzes the running `hookline dev` API from its own OpenAPI spec;
#   4. every Rust test: unit tests of the core, the ports' conformance suite on the embedded
#      adapters and on DynamoDB/SQS (the real AWS SDK against moto's server on loopback), the
#      HTTP API, tenancy, idempotency, SSRF, end-to-end delivery against loopback receivers, and
#      restarts of the real binary. Uses cargo-nextest when present.
# Schemathesis, moto and cargo-lambda come from PyPI into target/pytools on the first run; the
# template tools into target/infratools and the CDK app's packages into infra/cdk/node_modules
# (infra/check.sh). Needs a Rust toolchain, python3 and Node.js with npm; nothing else is
# assumed, and everything started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTOOLS=target/pytools
PY_PACKAGES=('schemathesis>=4.32,<5' 'moto[server]>=5,<6' 'cargo-lambda>=1.9,<2')

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
work=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== tools"
if [ ! -x "$PYTOOLS/bin/st" ] || [ ! -x "$PYTOOLS/bin/moto_server" ] || [ ! -x "$PYTOOLS/bin/cargo-lambda" ]; then
  python3 -m venv "$PYTOOLS"
  "$PYTOOLS/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
cargo build --bin hookline

echo "== Lambda functions (cargo lambda build --release --x86-64)"
PATH="$PWD/$PYTOOLS/bin:$PATH" cargo lambda build --release --x86-64 -p hookline-functions
for f in api fanout delivery notify; do
  printf '  %-9s %s bytes\n' "$f" "$(stat -c %s "target/lambda/$f/bootstrap")"
done

echo "== Deployment templates (infra/check.sh)"
HOOKLINE_LAMBDA_DIR=target/lambda bash infra/check.sh

echo "== moto (DynamoDB and SQS on loopback)"
moto_port=$(free_port)
# moto's server, with its DynamoDB requests applied one at a time as DynamoDB applies a
# conditional write (atomic_dynamodb.py) and its SQS calls spared looks through whole queues
# (fast_sqs.py)
"$PYTOOLS/bin/python" -c "$(cat shared/conformance/src/moto/atomic_dynamodb.py)
$(cat shared/conformance/src/moto/fast_sqs.py)
from moto.server import main
main(['-H', '127.0.0.1', '-p', '$moto_port'])" >"$work/moto.log" 2>&1 &
pids+=($!)
if ! python3 - "$moto_port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/moto-api/"
for _ in range(150):
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
then
  cat "$work/moto.log"
  echo "moto's server did not start" >&2
  exit 1
fi
export HOOKLINE_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

echo "== API fuzzing (schemathesis)"
api_port=$(free_port)
key="hk_admin_fuzz_$RANDOM$RANDOM"
HOOKLINE_ADMIN_KEY="$key" HOOKLINE_LOG=warn target/debug/hookline dev --listen "127.0.0.1:$api_port" \
  --data-dir "$work/dev" >"$work/dev.log" 2>&1 &
pids+=($!)
# positive_data_acceptance is left out on purpose: the API validates more than a JSON schema can
# say (SSRF checks on URLs, reserved header names and event namespaces, quotas), so some
# schema-valid bodies are rightly refused. Every other check runs, negative_data_rejection too.
# tests/fuzz/hooks.py sends the non-object bodies Schemathesis makes for routes under
# /v1/subscriptions/{id} to a real subscription, so they are refused for the body (400), not the id.
: >"$work/fuzz-hits"
HOOKLINE_FUZZ_URL="http://127.0.0.1:$api_port" HOOKLINE_FUZZ_KEY="$key" HOOKLINE_FUZZ_HITS="$work/fuzz-hits" \
PYTHONPATH="tests/fuzz" SCHEMATHESIS_HOOKS=hooks \
"$PYTOOLS/bin/st" run "http://127.0.0.1:$api_port/v1/openapi.json" \
  --wait-for-schema 30 \
  --header "Authorization: Bearer $key" \
  --checks all --exclude-checks positive_data_acceptance \
  --phases examples,coverage,fuzzing \
  --max-examples 40 --workers 2 --seed 1 \
  --warnings off
hits=$(wc -l <"$work/fuzz-hits")
[ "$hits" -gt 0 ] || { echo "no non-object body reached a real subscription" >&2; exit 1; }
echo "non-object bodies sent to a real subscription: $hits"

echo "== Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
