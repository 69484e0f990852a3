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
    # TactusScore's runtime, as a Tactus job loads it (tactus, dspy, litellm, lupa's Lua).
    "plexus.scores.TactusScore"
    "plexus.scores.tactus_runtime"
    "tactus.core.runtime"
    "tactus.adapters.memory"
    "tactus.adapters.cost_collector_log"
    "lupa.lua55"
  ];
in
pkgs.runCommand "plexus-env-linkage"
  {
    # As plexus/scores/tactus_runtime.py sets it before a Tactus job imports litellm: the
    # price table from the package (the sandbox has no network).
    LITELLM_LOCAL_MODEL_COST_MAP = "True";
  }
  ''
  # dspy's cache in the build's temporary directory, not $HOME (as on Lambda: /tmp).
  export DSPY_CACHEDIR="$TMPDIR/dspy_cache"
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
