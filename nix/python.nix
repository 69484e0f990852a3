# The Python package set from pyproject.toml and uv.lock (uv2nix), and the environments built
# from it. As the uv2nix hello-world template, plus this project's overrides.
{
  pkgs,
  lib,
  workspace,
  pyproject-nix,
  pyproject-build-systems,
  root,
}:
let
  # The one place the Python version is chosen (the images' `py311` tags follow it).
  python = pkgs.python311;

  overrides = import ./overrides.nix { inherit pkgs lib root; };

  pythonSet =
    (pkgs.callPackage pyproject-nix.build.packages {
      inherit python;
    }).overrideScope
      (
        lib.composeManyExtensions [
          pyproject-build-systems.overlays.wheel
          (workspace.mkPyprojectOverlay { sourcePreference = "wheel"; })
          overrides.overlay
        ]
      );

  # plexus installed in editable mode from the checkout ($REPO_ROOT is set by the dev shell).
  editableSet = pythonSet.overrideScope (
    workspace.mkEditablePyprojectOverlay { root = "$REPO_ROOT"; }
  );
in
{
  inherit python pythonSet editableSet;
  inherit (overrides) pycInvalidationMode;

  # What the images ship: plexus and its runtime dependencies, no dependency groups.
  env = pythonSet.mkVirtualEnv "plexus-env" workspace.deps.default;

  # The test suite's environment: the dev group on top.
  testEnv = pythonSet.mkVirtualEnv "plexus-test-env" workspace.deps.all;

  devEnv = editableSet.mkVirtualEnv "plexus-dev-env" workspace.deps.all;
}
