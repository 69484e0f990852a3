# The Lambda images: `lambda-base` holds the Python environment and everything it needs; each
# function image is the base's layers unchanged plus one small layer with its handler.
{
  pkgs,
  py,
  linkage,
  functions,
}:
let
  # ECR repositories (plexus/tooling/naming.py `repository_name`); the archives' tag is the
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

  lambda-base = pkgs.dockerTools.buildLayeredImage {
    name = repository "base";
    # /etc/passwd and /etc/group, and /etc/ssl/certs for tools that look there. The
    # environment, tzdata and the CA bundle come in through the config's references.
    contents = [
      pkgs.fakeNss
      pkgs.cacert
    ];
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
      fromImage = lambda-base;
      config = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.toJSON config));
      maxLayers = baseMaxLayers + 2;
      extraCommands = ''
        mkdir -p .${taskRoot}
        cp -r --no-preserve=mode ${tasks.${fn.name}}/. .${taskRoot}/
      '';
    };

  tasks = builtins.mapAttrs (_: mkTaskRoot) functions;
in
{
  inherit
    lambda-base
    config
    caBundle
    tasks
    ;
  functions = builtins.mapAttrs (_: functionImage) functions;
}
