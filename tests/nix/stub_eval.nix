# nix/images.nix and nix/apps.nix evaluated with stand-ins for nixpkgs (which Debian's Nix
# 2.8 cannot evaluate), to see what they make of a folder of functions: which images and apps
# exist, and which configs carry string context (store paths the image's closure takes in).
#
# The stand-in writeShellApplication puts its script's text in its out path, so the tests
# can read each app's script back from `program`.
{ repo, root }:
let
  fake =
    name:
    derivation {
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
    };

  lib = rec {
    escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
    nameValuePair = name: value: { inherit name value; };
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
    mapAttrs' = f: attrs: builtins.listToAttrs (mapAttrsToList f attrs);
  };

  pkgs = {
    cacert = fake "nss-cacert";
    tzdata = fake "tzdata";
    fakeNss = fake "fake-nss";
    skopeo = fake "skopeo";
    aws-lambda-rie = fake "aws-lambda-rie";
    runCommand = name: _env: script: fake name // { inherit script; };
    writeText = name: _text: fake name;
    closureInfo = _args: fake "closure-info";
    writeShellApplication = args: {
      inherit (args) name;
      outPath = "/stub/${args.name}\n${args.text}";
    };
    dockerTools.buildLayeredImage = args: args // { outPath = "/stub/${baseNameOf args.name}.tar.gz"; };
  };

  py = {
    env = fake "plexus-env";
    python = {
      executable = "python3.11";
      interpreter = "/stub/python3.11";
    };
    pycInvalidationMode = "UNCHECKED_HASH";
    sbomEnv = fake "plexus-sbom-env";
    uvLock = "/stub/uv.lock";
  };

  functions = import (repo + "/nix/functions.nix") { inherit root; };
  images = import (repo + "/nix/images.nix") {
    inherit pkgs py functions;
    linkage = fake "plexus-env-linkage";
  };
  apps = import (repo + "/nix/apps.nix") {
    inherit
      pkgs
      lib
      py
      images
      ;
  };
  base = images.lambda-base;
in
{
  base = {
    inherit (base)
      name
      config
      maxLayers
      extraCommands
      ;
    contents = map (drv: drv.name) base.contents;
    entrypointHasContext = builtins.hasContext (builtins.head base.config.Entrypoint);
    extraCommandsHasContext = builtins.hasContext base.extraCommands;
  };
  functions = builtins.mapAttrs (name: image: {
    inherit (image) name config maxLayers;
    fromBase = image.fromImage.name == base.name;
    contents = image.contents or [ ];
    configHasContext = builtins.hasContext (builtins.toJSON image.config);
    copiesTask =
      builtins.match ".*cp -r --no-preserve=mode .*-${name}-task-root/\\. \\./var/task/.*" image.extraCommands
      != null;
    taskScript = images.tasks.${name}.script;
  }) images.functions;
  apps = builtins.mapAttrs (
    _: app: app // { program = builtins.unsafeDiscardStringContext app.program; }
  ) apps;
}
