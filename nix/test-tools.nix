# The programs the test suite starts (all on 127.0.0.1), for the dev shell and the pytest
# check. The suite defaults to Debian's paths; PLEXUS_TEST_* point it at these instead.
{ pkgs, lib }:
{
  packages = [
    pkgs.skopeo
    pkgs.distribution # the registry Debian packages as docker-registry
    pkgs.postgresql
    pkgs.aws-lambda-rie
  ];

  env = {
    PLEXUS_TEST_SKOPEO = lib.getExe pkgs.skopeo;
    PLEXUS_TEST_REGISTRY = "${pkgs.distribution}/bin/registry";
    PLEXUS_TEST_PG_BINDIR = "${pkgs.postgresql}/bin";
  };
}
