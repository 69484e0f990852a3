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
    lib.composeManyExtensions [
      (workspace.mkEditablePyprojectOverlay { root = "$REPO_ROOT"; })
      (final: prev: {
        plexus = prev.plexus.overrideAttrs (old: {
          # An editable build only needs to see the package, so it is not rebuilt on every edit.
          src = lib.fileset.toSource {
            inherit root;
            fileset = lib.fileset.unions [
              (root + "/pyproject.toml")
              (root + "/README.md")
              (root + "/plexus/__init__.py")
            ];
          };
          # hatchling builds editables with the `editables` package (what its
          # get_requires_for_build_editable adds, PEP 660); under Nix it must be declared.
          nativeBuildInputs = old.nativeBuildInputs ++ final.resolveBuildSystem { editables = [ ]; };
        });
      })
    ]
  );
in
{
  inherit python pythonSet editableSet;
  inherit (overrides) pycInvalidationMode;

  # What the images ship: plexus and its runtime dependencies, no dependency groups.
  env = pythonSet.mkVirtualEnv "plexus-env" workspace.deps.default;

  # The SBOM generator's environment (nix/images.nix): plexus with the `sbom` group only.
  sbomEnv = pythonSet.mkVirtualEnv "plexus-sbom-env" { plexus = [ "sbom" ]; };
  # The lock the SBOM takes Python versions from (a copy in the store).
  uvLock = root + "/uv.lock";

  # The test suite's environment: the dev group on top.
  testEnv = pythonSet.mkVirtualEnv "plexus-test-env" workspace.deps.all;

  devEnv = editableSet.mkVirtualEnv "plexus-dev-env" workspace.deps.all;
}
