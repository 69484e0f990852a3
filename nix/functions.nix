# The Lambda functions: one per `lambda_functions/<folder>/handler.py`, found by reading the
# folder, so adding a function is adding a folder. The image name is the folder with `_`
# turned into `-` (tooling/plexus/tooling/naming.py `image_name`; tests/nix holds the two together).
#
# Builtins only, no nixpkgs: the tests evaluate this file with a plain `nix-instantiate`.
{ root }:
let
  dir = root + "/lambda_functions";
  entries = if builtins.pathExists dir then builtins.readDir dir else { };
  isFunction =
    folder:
    entries.${folder} == "directory" && builtins.pathExists (dir + "/${folder}/handler.py");
  folders = builtins.filter isFunction (builtins.attrNames entries);

  imageName = folder: builtins.replaceStrings [ "_" ] [ "-" ] folder;

  # ECR repository names, flake attributes and the push tool's NAME=ARCHIVE all take this form;
  # `base` is the base image's own name and `lambda-base` its package.
  checked =
    folder:
    if builtins.match "[a-z0-9]+(_[a-z0-9]+)*" folder == null then
      throw "lambda_functions/${folder}: a function folder name must be lowercase letters and digits joined by single underscores"
    else if builtins.elem (imageName folder) [
      "base"
      "lambda-base"
    ] then
      throw "lambda_functions/${folder}: the image name ${imageName folder} is taken by the base image"
    else
      folder;
in
builtins.listToAttrs (
  map (
    folder:
    let
      name = imageName (checked folder);
    in
    {
      inherit name;
      value = {
        inherit name folder;
        handler = dir + "/${folder}/handler.py";
      };
    }
  ) folders
)
