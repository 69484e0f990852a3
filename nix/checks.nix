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
  functionImages = removeAttrs images.images [ "base" ];
in
{
  inherit linkage;

  # plexus.tooling.image_contract over the push-ready layouts: each blob hashes to its name
  # and size, gzip headers carry no name or time, each function image is the base's layers
  # (the same blobs) plus at most two, entrypoint/command/env as Lambda needs them, no
  # hardlinks, every parent directory in its layer, one architecture.
  image-contract = pkgs.runCommand "plexus-image-contract" { } ''
    ${py.toolingEnv}/bin/python -m plexus.tooling.image_contract \
      --base ${images.images.base.layout} \
      ${
        lib.escapeShellArgs (lib.mapAttrsToList (name: image: "${name}=${image.layout}") functionImages)
      } \
      > $out
    cat $out
  '';

  # Every image's SBOM (made and schema-validated when built).
  sboms = pkgs.runCommand "plexus-sboms" { } ''
    mkdir $out
    ln -s ${images.images.base.sbom} $out/base.cdx.json
    ${lib.concatStrings (
      lib.mapAttrsToList (name: image: "ln -s ${image.sbom} $out/${name}.cdx.json\n") functionImages
    )}
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
        (root + "/.github") # tests/tooling/test_push_workflow.py lints the workflow
        (withoutBytecode (root + "/plexus"))
        (withoutBytecode (root + "/tooling"))
        (withoutBytecode (root + "/local_api"))
        (withoutBytecode (root + "/tests"))
        (withoutBytecode (root + "/lambda_functions"))
      ];
    };
    nativeBuildInputs = [ py.testEnv ] ++ testTools.packages;
    env = testTools.env;
    dontConfigure = true;
    # Left out, both run by CI: tests/nix/test_nix_eval.py runs nix-instantiate on the
    # checkout, work the flake's own evaluation has done here (Nix parsed these files and
    # refuses a lock that does not match the inputs); tests/nix/test_psycopg_libpq.py patches
    # a pristine psycopg against Debian's libpq, and this environment's psycopg is the
    # patched one, which the linkage check tests.
    buildPhase = ''
      runHook preBuild
      export HOME=$TMPDIR
      pytest -p no:cacheprovider \
        --ignore=tests/nix/test_nix_eval.py \
        --ignore=tests/nix/test_psycopg_libpq.py
      runHook postBuild
    '';
    installPhase = ''
      touch $out
    '';
  };
}
