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
  testTools = import ./test-tools.nix { inherit pkgs lib; };
in
{
  packages = {
    inherit (images) lambda-base;
  }
  // images.functions;

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
