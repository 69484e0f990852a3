# `nix run .#push`: the package's push tool, with skopeo, given every built image.
# `nix run .#<name>-local`: a function's entrypoint under the Lambda Runtime Interface Emulator.
{
  pkgs,
  lib,
  py,
  images,
}:
let
  # writeShellApplication puts its script at bin/<name>.
  app = description: drv: {
    type = "app";
    program = "${drv}/bin/${drv.name}";
    meta = { inherit description; };
  };

  # NAME=LAYOUT and --sbom NAME=SBOM for `plexus-lambda push`: `base` first, then every
  # function image.
  archives = builtins.concatLists (
    lib.mapAttrsToList (name: image: [
      "${name}=${image.layout}"
      "--sbom"
      "${name}=${image.sbom}"
    ]) images.images
  );

  push = pkgs.writeShellApplication {
    name = "plexus-push";
    runtimeInputs = [ pkgs.skopeo ];
    text = ''
      exec ${py.toolingEnv}/bin/plexus-lambda push ${lib.escapeShellArgs archives} "$@"
    '';
  };

  # Same interpreter, arguments and task root as the image; the emulator answers on
  # 127.0.0.1:9000 (PLEXUS_RIE_ADDRESS to change it) at /2015-03-31/functions/function/invocations.
  local =
    name: task:
    pkgs.writeShellApplication {
      name = "${name}-local";
      runtimeInputs = [ pkgs.aws-lambda-rie ];
      text = ''
        address="''${PLEXUS_RIE_ADDRESS:-127.0.0.1:9000}"
        export LAMBDA_TASK_ROOT=${task} PYTHONPATH=${task}
        export SSL_CERT_FILE="''${SSL_CERT_FILE:-${images.caBundle}}"
        cd ${task} || exit 1
        echo "${name}: invoke with curl -XPOST http://$address/2015-03-31/functions/function/invocations -d '{}'" >&2
        exec aws-lambda-rie --runtime-interface-emulator-address "$address" \
          ${lib.escapeShellArgs (images.config.Entrypoint ++ images.config.Cmd)}
      '';
    };
in
{
  push = app "Push lambda-base and every function image to Amazon ECR (plexus-lambda push)" push;
}
// lib.mapAttrs' (
  name: task:
  lib.nameValuePair "${name}-local" (
    app "Run the ${name} function under aws-lambda-rie on 127.0.0.1:9000" (local name task)
  )
) images.tasks
