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

  # The workspace's three distributions installed in editable mode from the checkout
  # ($REPO_ROOT is set by the dev shell). An editable build only reads the metadata (hatchling
  # puts the member's folder on sys.path), so it is not rebuilt on every edit.
  editable =
    final: name: dir:
    final.${name}.overrideAttrs (old: {
      src = lib.fileset.toSource {
        root = dir;
        fileset = lib.fileset.unions (overrides.metadataFiles dir);
      };
      # hatchling builds editables with the `editables` package (what its
      # get_requires_for_build_editable adds, PEP 660); under Nix it must be declared.
      nativeBuildInputs = old.nativeBuildInputs ++ final.resolveBuildSystem { editables = [ ]; };
    });
  editableSet = pythonSet.overrideScope (
    lib.composeManyExtensions [
      (workspace.mkEditablePyprojectOverlay { root = "$REPO_ROOT"; })
      (final: prev: {
        plexus = editable prev "plexus" root;
        plexus-local-api = editable prev "plexus-local-api" (root + "/local_api");
        plexus-lambda = editable prev "plexus-lambda" (root + "/tooling");
      })
    ]
  );
in
{
  inherit python pythonSet editableSet;
  inherit (overrides) pycInvalidationMode;

  # What the images ship: the `plexus` distribution (plexus/: the worker and the engine) and
  # its dependencies; not the tooling (`plexus-lambda`), the local API or any group.
  env = pythonSet.mkVirtualEnv "plexus-env" { plexus = [ ]; };

  # The image tooling (plexus.tooling: layouts, contract, push), for the build steps and apps.
  toolingEnv = pythonSet.mkVirtualEnv "plexus-tooling-env" { plexus-lambda = [ ]; };

  # The SBOM generator's environment (nix/images.nix): the tooling with its `sbom` extra.
  sbomEnv = pythonSet.mkVirtualEnv "plexus-sbom-env" { plexus-lambda = [ "sbom" ]; };
  # The lock the SBOM takes Python versions from (a copy in the store).
  uvLock = root + "/uv.lock";

  # The test suite's environment: the dev group on top.
  testEnv = pythonSet.mkVirtualEnv "plexus-test-env" workspace.deps.all;

  devEnv = editableSet.mkVirtualEnv "plexus-dev-env" workspace.deps.all;
}
