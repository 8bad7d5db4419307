#!/usr/bin/env bash
# Runs the Athena view statements that Terraform saved as named queries (sql/athena/views/*.sql)
# in the deployment's workgroup and database, after `terraform apply`. Views build on each other
# (images_current on image_events_dedup, the others on images_current), so every pass runs the
# statements still failing; a pass that makes no progress stops with Athena's reasons.
# Needs the AWS CLI, python3 and credentials allowed to run Athena DDL in the workgroup.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Outputs from `terraform output -json`, or from a file saved earlier (TF_OUTPUTS_JSON), e.g. when
# the credentials running the views cannot read the state.
if [[ -n "${TF_OUTPUTS_JSON:-}" ]]; then outputs="$(cat "$TF_OUTPUTS_JSON")"; else outputs="$(terraform output -json)"; fi
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]]["value"])' "$1" <<<"$outputs"; }
workgroup="$(field athena_workgroup)"
database="$(field glue_database)"
mapfile -t pending < <(python3 -c '
import json, sys
for _, query_id in sorted(json.load(sys.stdin)["athena_view_query_ids"]["value"].items()):
    print(query_id)' <<<"$outputs")

run_query() {
  local id="$1" sql qid state
  sql="$(aws athena get-named-query --named-query-id "$id" --query NamedQuery.QueryString --output text)"
  qid="$(aws athena start-query-execution --work-group "$workgroup" \
    --query-execution-context "Database=$database" --query-string "$sql" \
    --query QueryExecutionId --output text)"
  while :; do
    state="$(aws athena get-query-execution --query-execution-id "$qid" \
      --query QueryExecution.Status.State --output text)"
    case "$state" in
      QUEUED | RUNNING) sleep 2 ;;
      SUCCEEDED) echo "ok      $id"; return 0 ;;
      *)
        echo "$state $id: $(aws athena get-query-execution --query-execution-id "$qid" \
          --query QueryExecution.Status.StateChangeReason --output text)" >&2
        return 1
        ;;
    esac
  done
}

while ((${#pending[@]} > 0)); do
  failed=()
  for id in "${pending[@]}"; do
    run_query "$id" || failed+=("$id")
  done
  if ((${#failed[@]} == ${#pending[@]})); then
    echo "no progress: ${#failed[@]} view statement(s) keep failing" >&2
    exit 1
  fi
  pending=("${failed[@]+"${failed[@]}"}")
done
echo "views are up to date in $database ($workgroup)"
