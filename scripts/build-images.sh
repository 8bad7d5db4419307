#!/usr/bin/env bash
# Builds the Lambda container images (docker/Dockerfile, one target per binary, arm64) and pushes
# each to its ECR repository, for terraform's lambda_package_type = "Image". The targets share
# one build stage, which BuildKit builds once.
#   scripts/build-images.sh TAG [BINARY...]      # default: every target of docker/Dockerfile
#   DRY_RUN=1 scripts/build-images.sh TAG        # print the commands only
# Repository URLs come from `terraform -chdir=terraform output -json image_repository_urls`, or
# from IMGLAKE_IMAGE_REPOSITORIES (the same JSON object: binary -> repository URL). Needs Docker
# with buildx, and `aws ecr get-login-password | docker login ...` done for the registry. Tags
# are immutable: push a new TAG (e.g. the git commit) for every build, then apply with
# lambda_image_tag = TAG.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag="${1:?usage: scripts/build-images.sh TAG [BINARY...]}"
shift
if [[ ! "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "error: '$tag' is not a valid image tag" >&2; exit 2
fi
repos="${IMGLAKE_IMAGE_REPOSITORIES:-$(terraform -chdir=terraform output -json image_repository_urls)}"
# The image targets: every stage built on the Lambda base image.
targets="$(sed -n 's|^FROM public\.ecr\.aws/lambda/provided:al2023 AS \([a-z0-9-]*\)$|\1|p' docker/Dockerfile)"
if (($# == 0)); then
  # shellcheck disable=SC2086 # one target name per word
  set -- $targets
fi
for binary in "$@"; do
  grep -qx -- "$binary" <<<"$targets" || { echo "error: docker/Dockerfile has no target $binary" >&2; exit 2; }
  repo="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$repos" "$binary")"
  if [[ -z "$repo" ]]; then
    echo "error: no repository for $binary: apply terraform with lambda_package_type = \"Image\" first" >&2
    exit 1
  fi
  cmd=(docker buildx build --platform linux/arm64 --provenance=false -f docker/Dockerfile --target "$binary" -t "$repo:$tag" --push .)
  if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "${cmd[@]}"; echo; else echo "== $binary -> $repo:$tag" >&2; "${cmd[@]}"; fi
done
