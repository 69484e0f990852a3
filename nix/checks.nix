# `nix flake check`: the test suite in the sandbox, the linkage check, the image contract.
{
  pkgs,
  lib,
  root,
  py,
  images,
  linkage,
  testTools,
}:
let
  withoutBytecode =
    dir: lib.fileset.difference dir (lib.fileset.fileFilter (file: file.hasExt "pyc") dir);
in
{
  inherit linkage;

  # plexus.tooling.image_contract over the built archives: each function image is the base's
  # layers plus at most two, entrypoint/command/env as Lambda needs them, no hardlinks, every
  # parent directory in its layer, one architecture.
  image-contract = pkgs.runCommand "plexus-image-contract" { } ''
    ${py.env}/bin/python -m plexus.tooling.image_contract \
      --base ${images.lambda-base} \
      ${lib.escapeShellArgs (lib.mapAttrsToList (name: image: "${name}=${image}") images.functions)} \
      > $out
    cat $out
  '';

  pytest = pkgs.stdenv.mkDerivation {
    name = "plexus-pytest";
    src = lib.fileset.toSource {
      inherit root;
      fileset = lib.fileset.unions [
        (root + "/pyproject.toml")
        (root + "/uv.lock")
        (root + "/README.md")
        (root + "/flake.nix")
        (root + "/flake.lock")
        (root + "/nix")
        (withoutBytecode (root + "/plexus"))
        (withoutBytecode (root + "/tests"))
        (withoutBytecode (root + "/lambda_functions"))
      ];
    };
    nativeBuildInputs = [ py.testEnv ] ++ testTools.packages;
    env = testTools.env;
    dontConfigure = true;
    # tests/nix/test_nix_eval.py runs nix-instantiate on the checkout; in the sandbox the
    # flake's own evaluation has done that work (Nix parsed these files and refuses a lock
    # that does not match the inputs), and CI runs it with Debian's nix-bin.
    buildPhase = ''
      runHook preBuild
      export HOME=$TMPDIR
      pytest -p no:cacheprovider --ignore=tests/nix/test_nix_eval.py
      runHook postBuild
    '';
    installPhase = ''
      touch $out
    '';
  };
}
