# Sourced by scripts/test and scripts/bench: the pinned Python tools in ./.venv, and moto server
# (serial, see moto_serial.py) on a free 127.0.0.1 port with the AWS SDK pointed at it.

MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
DELIGHTED_VERSION=4.2.0
PUPPETEER_VERSION=24.31.0
AXE_VERSION=4.14.1
DELIGHTED_NODE_VERSION=2.2.0
# 8.8.1: the last oidc-provider for Node 20 (9.x supports Node 22+); jose as it resolves there.
OIDC_PROVIDER_VERSION=8.8.1
JOSE_VERSION=5.10.0
# The SAML tests' identity provider: samlify, and node-forge for its self-signed certificate.
SAMLIFY_VERSION=2.13.1
NODE_FORGE_VERSION=1.3.1
SCHEMATHESIS_VERSION=4.32.5
VENV=.venv

step() { printf '\n==> %s\n' "$*"; }

install_tools() {
  step "tools: moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION, aws-sam-cli==$SAM_CLI_VERSION in $VENV"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  installed() { "$VENV/bin/python" -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"; }
  if ! installed moto "$MOTO_VERSION" || ! installed cfn-lint "$CFN_LINT_VERSION" \
    || ! installed aws-sam-cli "$SAM_CLI_VERSION" || ! installed delighted "$DELIGHTED_VERSION" \
    || ! installed schemathesis "$SCHEMATHESIS_VERSION"; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION" \
      "delighted==$DELIGHTED_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  # The browser test: Debian's Chromium, driven by puppeteer-core (no browser download); the
  # single sign-on tests' identity providers: oidc-provider and jose; samlify and node-forge.
  step "tools: chromium (Debian), puppeteer-core@$PUPPETEER_VERSION, axe-core@$AXE_VERSION, delighted@$DELIGHTED_NODE_VERSION, oidc-provider@$OIDC_PROVIDER_VERSION, jose@$JOSE_VERSION, samlify@$SAMLIFY_VERSION and node-forge@$NODE_FORGE_VERSION (Node) in $VENV/node"
  if ! command -v chromium >/dev/null; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  installed_npm() { grep -q "\"version\": \"$2\"" "$VENV/node/node_modules/$1/package.json" 2>/dev/null; }
  if ! installed_npm puppeteer-core "$PUPPETEER_VERSION" || ! installed_npm axe-core "$AXE_VERSION" \
    || ! installed_npm delighted "$DELIGHTED_NODE_VERSION" || ! installed_npm oidc-provider "$OIDC_PROVIDER_VERSION" \
    || ! installed_npm jose "$JOSE_VERSION" || ! installed_npm samlify "$SAMLIFY_VERSION" \
    || ! installed_npm node-forge "$NODE_FORGE_VERSION"; then
    npm install --silent --no-audit --no-fund --prefix "$VENV/node" \
      "puppeteer-core@$PUPPETEER_VERSION" "axe-core@$AXE_VERSION" "delighted@$DELIGHTED_NODE_VERSION" \
      "oidc-provider@$OIDC_PROVIDER_VERSION" "jose@$JOSE_VERSION" "samlify@$SAMLIFY_VERSION" \
      "node-forge@$NODE_FORGE_VERSION" >/dev/null
  fi
  export OVATION_TEST_PYTHON="$PWD/$VENV/bin/python" OVATION_TEST_NODE_MODULES="$PWD/$VENV/node/node_modules"
  export OVATION_TEST_SCHEMATHESIS="$PWD/$VENV/bin/schemathesis"
  OVATION_TEST_CHROMIUM="$(command -v chromium)"
  export OVATION_TEST_CHROMIUM
}

start_moto() {
  step "moto server (serial) on a free loopback port"
  local port
  port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p target
  "$VENV/bin/python" scripts/moto_serial.py 127.0.0.1 "$port" >target/moto.log 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
  "$VENV/bin/python" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/moto-api/"
for _ in range(150):
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit("moto server did not start; see target/moto.log")
PY
  echo "moto server is up on 127.0.0.1:$port"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1
  unset AWS_PROFILE
}
