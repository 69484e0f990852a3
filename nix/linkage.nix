# The import and linkage check of the image environment (nix/linkage_check.py). The base
# image depends on it, so no image is built from an environment that fails it.
{
  pkgs,
  lib,
  env,
}:
let
  # Modules the handler imports beyond the top-level ones.
  imports = [
    "plexus.aws_lambda.entry"
    "plexus.cli.work"
    "plexus.cli.score"
  ];
in
pkgs.runCommand "plexus-env-linkage" { } ''
  ${env}/bin/python ${./linkage_check.py} \
    --ca-file ${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt \
    --curl-version ${lib.escapeShellArg pkgs.curl.version} \
    --libcurl-dir ${lib.getLib pkgs.curl}/lib \
    --libpq-version ${lib.escapeShellArg pkgs.libpq.version} \
    --libpq-dir ${pkgs.libpq}/lib \
    ${lib.concatMapStringsSep " " (module: "--import ${module}") imports} \
    > $out
  cat $out
''
