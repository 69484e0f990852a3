# `nix develop`: the environment with plexus editable from the checkout, and the tools the
# tests and the push use. As the uv2nix hello-world template's shell.
{
  pkgs,
  py,
  testTools,
}:
pkgs.mkShell {
  packages = [
    # Also holds the dev group: pytest, and ruff at the version uv.lock pins (the one CI runs).
    py.devEnv
    pkgs.uv
    pkgs.awscli2
    pkgs.nixfmt
  ]
  ++ testTools.packages;

  env = {
    # uv must not sync or download a Python over the Nix-built environment.
    UV_NO_SYNC = "1";
    UV_PYTHON = py.editableSet.python.interpreter;
    UV_PYTHON_DOWNLOADS = "never";
  }
  // testTools.env;

  shellHook = ''
    unset PYTHONPATH
    export REPO_ROOT=$(git rev-parse --show-toplevel)
  '';
}
