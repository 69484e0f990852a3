# Build fixes for the uv.lock package set, applied on top of uv2nix's overlay.
#
# awslambdaric needs none: its manylinux2014 wheel links only libstdc++, libgcc_s and glibc,
# which uv2nix's wheel builds hand to autoPatchelfHook (pythonManylinuxPackages.manylinux2014).
# The linkage check (nix/linkage.nix) imports its `runtime_client` extension.
{
  pkgs,
  lib,
  root,
}:
let
  inherit (pkgs.stdenv.hostPlatform.extensions) sharedLibrary;

  fixes = final: prev: {
    # Built from its sdist (uv2nix's per-package sourcePreference; the workspace prefers
    # wheels): the PyPI wheel bundles its own libcurl, the image must use nixpkgs' curl and
    # OpenSSL. As nixpkgs' python3Packages.pycurl. `uv sync` outside Nix takes the wheel.
    pycurl = (prev.pycurl.override { sourcePreference = "sdist"; }).overrideAttrs (old: {
      nativeBuildInputs =
        old.nativeBuildInputs
        ++ final.resolveBuildSystem {
          # pycurl's pyproject.toml: requires = ["setuptools>=77", "wheel"]
          setuptools = [ ];
          wheel = [ ];
        };
      buildInputs = (old.buildInputs or [ ]) ++ [
        pkgs.curl
        pkgs.openssl
      ];
      PYCURL_SSL_LIBRARY = "openssl";
      PYCURL_CURL_CONFIG = "${lib.getDev pkgs.curl}/bin/curl-config";
    });

    # The pure-Python psycopg finds libpq with ctypes at import; make it load nixpkgs' libpq
    # (and libc) by store path, as nixpkgs' python3Packages.psycopg does with ctypes.patch.
    psycopg = prev.psycopg.overrideAttrs (old: {
      postInstall = (old.postInstall or "") + ''
        ${final.python.interpreter} ${./psycopg_libpq.py} \
          "$out/${final.python.sitePackages}" \
          ${pkgs.libpq}/lib/libpq${sharedLibrary} \
          ${pkgs.stdenv.cc.libc}/lib/libc.so.6 \
          "''${PYC_INVALIDATION_MODE:-CHECKED_HASH}"
      '';
    });

    # The workspace's own distributions, each from only what its wheel build reads (hatchling
    # wants the README a project names for its metadata; the root `plexus` names none), so
    # that editing tests, docs or another member does not rebuild the image's environment.
    plexus = fromFiles prev.plexus root [ (root + "/plexus") ];
    plexus-local-api = fromFiles prev.plexus-local-api (root + "/local_api") [
      (root + "/local_api/plexus")
    ];
    plexus-lambda = fromFiles prev.plexus-lambda (root + "/tooling") [
      (root + "/tooling/plexus")
    ];
  };

  fromFiles =
    package: dir: sources:
    package.overrideAttrs (_: {
      src = lib.fileset.toSource {
        root = dir;
        fileset = lib.fileset.unions (
          metadataFiles dir
          ++ map (
            source: lib.fileset.difference source (lib.fileset.fileFilter (file: file.hasExt "pyc") source)
          ) sources
        );
      };
    });

  # What hatchling reads for a project's metadata: its pyproject.toml and the readme it names.
  metadataFiles =
    dir:
    [ (dir + "/pyproject.toml") ]
    ++ lib.optional ((lib.importTOML (dir + "/pyproject.toml")).project ? readme) (dir + "/README.md");

  # Bytecode. Lambda's file system is read-only, so a module without a valid .pyc is compiled
  # again at every cold start. pyproject.nix's configure hook sets UV_COMPILE_BYTECODE=1, so
  # `uv pip install` compiles every module into its package's store path; under stdenv's
  # SOURCE_DATE_EPOCH uv (like py_compile) writes checked-hash pycs, which stay valid whatever
  # the mtimes in the store or in the layer tars (timestamp pycs would record the build-time
  # mtime, which Nix resets to 1). Checked-hash pycs still read and hash every source at
  # import; store paths never change, so unchecked-hash pycs (uv reads PYC_INVALIDATION_MODE)
  # are as safe and skip that work. The linkage check verifies each imported module's pyc
  # against its source, and the handler's pyc is compiled the same way (nix/images.nix).
  pycInvalidationMode = "UNCHECKED_HASH";
  lockedNames = map (package: package.name) (lib.importTOML (root + "/uv.lock")).package;
  bytecode =
    _final: prev:
    lib.genAttrs (builtins.filter (name: prev ? ${name}) lockedNames) (
      name:
      prev.${name}.overrideAttrs (_: {
        PYC_INVALIDATION_MODE = pycInvalidationMode;
      })
    );
in
{
  inherit pycInvalidationMode metadataFiles;
  overlay = lib.composeExtensions fixes bytecode;
}
