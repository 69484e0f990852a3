# Everything the flake exposes for one system, put together from the files beside this one.
{
  pkgs,
  workspace,
  pyproject-nix,
  pyproject-build-systems,
  root,
}:
let
  inherit (pkgs) lib;

  functions = import ./functions.nix { inherit root; };
  py = import ./python.nix {
    inherit
      pkgs
      lib
      workspace
      pyproject-nix
      pyproject-build-systems
      root
      ;
  };
  linkage = import ./linkage.nix {
    inherit pkgs lib;
    inherit (py) env;
  };
  images = import ./images.nix {
    inherit
      pkgs
      py
      linkage
      functions
      ;
  };

  # `nix build .#<image>` is the push-ready layout; `-archive` and `-sbom` sit beside it.
  imagePackages =
    name: image:
    {
      ${name} = image.layout;
      "${name}-archive" = image.archive;
      "${name}-sbom" = image.sbom;
    };
  packageSets = lib.mapAttrsToList (
    name: imagePackages (if name == "base" then "lambda-base" else name)
  ) images.images;
  packageNames = lib.concatMap builtins.attrNames packageSets;
  duplicates = lib.filter (n: lib.count (m: m == n) packageNames > 1) (lib.unique packageNames);
  testTools = import ./test-tools.nix { inherit pkgs lib; };
in
{
  packages =
    if duplicates != [ ] then
      throw "lambda_functions: image names collide with another image's -archive/-sbom output: ${toString duplicates}"
    else
      lib.foldl' (a: b: a // b) { } packageSets;

  apps = import ./apps.nix {
    inherit
      pkgs
      lib
      py
      images
      ;
  };

  devShells.default = import ./shell.nix { inherit pkgs py testTools; };

  checks = import ./checks.nix {
    inherit
      pkgs
      lib
      root
      py
      images
      linkage
      testTools
      ;
  };

  formatter = pkgs.nixfmt;
}
