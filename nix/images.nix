# The Lambda images: `lambda-base` holds the Python environment and everything it needs; each
# function image is the base's layers unchanged plus one small layer with its handler.
#
# Each image comes three ways: `archive`, the docker-archive dockerTools.buildLayeredImage
# writes (uncompressed: it is only an intermediate, and `docker load` takes it); `layout`,
# the push-ready skopeo `dir:` layout made from it by plexus.tooling.image_layout (layers
# gzip-compressed here, deterministically, and the final Docker v2 schema 2 manifest, so
# the digest Lambda runs is known at build time); `sbom`, its CycloneDX SBOM from the
# closure (plexus.tooling.sbom), whose subject is that digest.
{
  pkgs,
  py,
  linkage,
  functions,
}:
let
  # ECR repositories (tooling/plexus/tooling/naming.py `repository_name`); the archives' tag is the
  # Nix output hash, the content tag the push tool uses.
  repository = image: "plexus/lambda-${image}";

  # The base's own layer budget; a function image adds one layer and may use one more, and
  # dockerTools refuses a fromImage that leaves no room for the new layers.
  baseMaxLayers = 90;

  taskRoot = "/var/task";

  # Lambda runs `Entrypoint ++ Cmd`: the environment's interpreter itself (the venv's
  # `python3.11` is a compiled wrapper, not a symlink) with the runtime interface client.
  entrypoint = [
    "${py.env}/bin/${py.python.executable}"
    "-m"
    "awslambdaric"
  ];

  caBundle = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
  zoneinfo = "${pkgs.tzdata}/share/zoneinfo";

  config = {
    Entrypoint = entrypoint;
    Cmd = [ "handler.handler" ];
    WorkingDir = taskRoot;
    Env = [
      "LAMBDA_TASK_ROOT=${taskRoot}"
      "PYTHONPATH=${taskRoot}"
      # The file system is read-only except /tmp.
      "HOME=/tmp"
      "MPLCONFIGDIR=/tmp/matplotlib"
      "SSL_CERT_FILE=${caBundle}"
      "TZDIR=${zoneinfo}"
      "PYTHONTZPATH=${zoneinfo}"
    ];
  };

  # What a function's /var/task holds: the handler and its bytecode, compiled like the
  # environment's (see nix/overrides.nix) so a cold start compiles nothing.
  mkTaskRoot =
    fn:
    pkgs.runCommand "${fn.name}-task-root" { } ''
      mkdir $out
      cp ${fn.handler} $out/handler.py
      cd $out
      ${py.python.interpreter} -c '
      import py_compile
      py_compile.compile("handler.py", dfile="${taskRoot}/handler.py", doraise=True,
          invalidation_mode=py_compile.PycInvalidationMode.${py.pycInvalidationMode})
      '
    '';

  # What the base image's store paths are the closure of: its contents and what its config
  # names (dockerTools' closure roots are the config JSON and the customisation layer).
  baseContents = [
    pkgs.fakeNss
    pkgs.cacert
  ];
  imageClosure = pkgs.closureInfo {
    rootPaths = baseContents ++ [ (pkgs.writeText "lambda-image-config.json" (builtins.toJSON config)) ];
  };

  lambda-base-archive = pkgs.dockerTools.buildLayeredImage {
    name = repository "base";
    compressor = "none";
    # /etc/passwd and /etc/group, and /etc/ssl/certs for tools that look there. The
    # environment, tzdata and the CA bundle come in through the config's references.
    contents = baseContents;
    inherit config;
    maxLayers = baseMaxLayers;
    extraCommands = ''
      # Built only from an environment that passed the linkage check: ${linkage}
      mkdir -m 1777 tmp
      mkdir -p .${taskRoot}
    '';
  };

  # fromImage copies the base's layers verbatim but does not drop the store paths they hold:
  # every store path this image's config or contents refer to would come again in layers of
  # its own. So the config carries no string context (its paths are the base's, which the
  # base's layers hold), nothing goes in `contents`, and the handler is copied, not linked,
  # into the one new layer.
  functionImage =
    fn:
    pkgs.dockerTools.buildLayeredImage {
      name = repository fn.name;
      compressor = "none";
      fromImage = lambda-base-archive;
      config = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.toJSON config));
      maxLayers = baseMaxLayers + 2;
      extraCommands = ''
        mkdir -p .${taskRoot}
        cp -r --no-preserve=mode ${tasks.${fn.name}}/. .${taskRoot}/
      '';
    };

  # The converter is stdlib Python run by the images' interpreter, so its zlib (and so
  # every layer digest) is the one nixpkgs pins.
  mkLayout =
    name: archive: base:
    pkgs.runCommand "lambda-${name}-layout" { } ''
      ${py.toolingEnv}/bin/python -m plexus.tooling.image_layout ${archive} $out \
        ${if base == null then "" else "--base ${base}"}
    '';

  mkSbom =
    name: layout:
    pkgs.runCommand "lambda-${name}.cdx.json" { } ''
      ${py.sbomEnv}/bin/python -m plexus.tooling.sbom \
        --layout ${layout} --closure-info ${imageClosure} --uv-lock ${py.uvLock} \
        --name ${repository name} -o $out
    '';

  image = name: archive: base: rec {
    inherit archive;
    layout = mkLayout name archive base;
    sbom = mkSbom name layout;
  };

  base = image "base" lambda-base-archive null;
  archives = builtins.mapAttrs (_: functionImage) functions;

  tasks = builtins.mapAttrs (_: mkTaskRoot) functions;
in
{
  inherit
    config
    caBundle
    tasks
    ;
  # The docker-archives, as dockerTools builds them.
  lambda-base = lambda-base-archive;
  functions = archives;
  # Per image, `base` first: { archive, layout, sbom }.
  images = {
    inherit base;
  }
  // builtins.mapAttrs (name: archive: image name archive base.layout) archives;
}
