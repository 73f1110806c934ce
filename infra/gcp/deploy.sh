#!/usr/bin/env bash
# Deploys one twincloud function to Cloud Run and wires its triggers.
#
#   PROJECT=aion-prod REGION=us-central1 CONFIG=gs://aion-twincloud/twincloud.toml \
#     infra/gcp/deploy.sh notifier
#
# What it does (idempotent; safe to re-run):
#   1. a runtime service account for the function, and an invoker service account that
#      Pub/Sub, Eventarc and Cloud Scheduler use to call it (the service is private:
#      --no-allow-unauthenticated);
#   2. builds the function's release binary here (cargo-lambda, x86-64: the binary the Lambda
#      zip holds, built the way sam build does; BOOTSTRAP=path takes one already built), stages it with infra/gcp/stage.sh,
#      and builds the image with Cloud Build from infra/gcp/Dockerfile into Artifact Registry;
#   3. deploys the Cloud Run service with every variable in one step: TWINCLOUD_CONFIG and
#      push-token verification (the audience is the service's own URL); with COMMAND_CALLERS
#      (comma-separated accounts), those accounts may call it with commands (failback, backup);
#   4. subscribes it to the topics the function listens to (Pub/Sub push with an OIDC token,
#      10 delivery attempts, then the twincloud-dead-letter topic),
#      and, with SCHEDULE, calls it from Cloud Scheduler (failover: every minute, the GCP
#      vantage point; set TWINCLOUD_VANTAGE=gcp through EXTRA_ENV);
#   5. with BUCKETS, an Eventarc trigger per bucket for object finalized and deleted events;
#   grants: the runtime account gets exactly what its function needs: its config object, its
#      state (STATE=gs://BUCKET/PREFIX), its secrets (SECRETS="name ..."), the `pubsub`
#      channels' topics its reports go to (PUBLISH_TOPICS), and per function: failover RUN_SERVICES and DNS_ZONE; bucket-sync read on
#      SYNC_SOURCES (default: BUCKETS) and write on SYNC_DESTINATIONS; backup Cloud SQL and
#      read on EXPORT_BUCKETS; deploy run.developer on RUN_SERVICES, actAs on their runtime
#      accounts (RUN_SERVICE_ACCOUNTS: a new revision runs as the service's account), and
#      Artifact Registry writer (pull and mirror) on AR_REPOSITORIES ("LOCATION/REPO ...").
#
#   budget-guard, on every budget notification (BUDGET_TOPIC, also in TOPICS) and daily:
#   PROJECT=… REGION=… CONFIG=… BUDGET_TOPIC=billing-alerts TOPICS=billing-alerts \
#     SCHEDULE="15 0 * * *" BILLING_ACCOUNT=01D4EE-079462-DFD6EC RUN_SERVICES=aion-worker \
#     DETACH_PROJECTS=aion-sandbox infra/gcp/deploy.sh budget-guard
#
#   deploy, on every push to Artifact Registry (the `gcr` topic) and every minute for the
#   rollouts in flight:
#   PROJECT=… REGION=… CONFIG=… TOPICS=gcr SCHEDULE="* * * * *" TIMEOUT=900 \
#     RUN_SERVICES=aion-backend RUN_SERVICE_ACCOUNTS=aion-backend@aion-prod.iam.gserviceaccount.com \
#     AR_REPOSITORIES=us-central1/images infra/gcp/deploy.sh deploy
#
#   GKE_PROJECT (failover, scaling, deploy, budget-guard with compute "kubernetes"): the project
#      of the GKE clusters, where the runtime account may read clusters (container.clusterViewer).
#
#   6. backup: with BACKUP_SET, the Cloud Scheduler job runs that [[backup.sets]] entry on
#      SCHEDULE, a second job follows up on FOLLOW_UP_SCHEDULE (default every 15 minutes), a
#      third restores the newest logical dump on VERIFY_SCHEDULE (default Sundays 05:00);
#      the runtime account needs roles/cloudsql.editor (backup runs, exports), and each
#      instance's service account objectAdmin on the export bucket (the script says which).
#
#   backup, nightly at 03:00 (it waits up to 10 minutes per run, so TIMEOUT=900):
#   PROJECT=… REGION=… CONFIG=… BACKUP_SET=cloudsql-nightly SCHEDULE="0 3 * * *" TIMEOUT=900 \
#     infra/gcp/deploy.sh backup
#
#   readiness, every 5 minutes (reads only: what each side serves and can reach, the failover
#   record and its TTL):
#   PROJECT=… REGION=… CONFIG=… STATE=gs://… SCHEDULE="*/5 * * * *" RUN_SERVICES="aion-backend" \
#     DNS_ZONE=aion-example infra/gcp/deploy.sh readiness
#
#   bucket-sync, every 5 minutes and on every upload:
#   PROJECT=… REGION=… CONFIG=… BUCKETS="aion-acme-uploads aion-globex-uploads" \
#     SCHEDULE="*/5 * * * *" MEMORY=1Gi TIMEOUT=900 infra/gcp/deploy.sh bucket-sync
set -euo pipefail

# The functions of the registry (twincloud_runtime::functions::FUNCTIONS; a test keeps them equal).
FUNCTIONS="notifier bucket-sync backup failover scaling deploy budget-guard readiness"
fn=${1:?usage: deploy.sh FUNCTION   (one of: ${FUNCTIONS})}
case " $FUNCTIONS " in
  *" $fn "*) ;;
  *) echo "unknown function \`$fn\` (one of: ${FUNCTIONS})" >&2; exit 2 ;;
esac
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${CONFIG:?set CONFIG (gs://BUCKET/twincloud.toml)}"
REPO=${REPO:-twincloud}
TOPICS=${TOPICS:-}   # space-separated Pub/Sub topics to subscribe, e.g. "billing-alerts monitoring-incidents gcr"
SCHEDULE=${SCHEDULE:-}   # optional cron for a Cloud Scheduler job, e.g. "* * * * *" for failover
BUCKETS=${BUCKETS:-}     # bucket-sync: space-separated GCS source buckets whose object events it takes
BACKUP_SET=${BACKUP_SET:-}   # backup: the [[backup.sets]] entry the schedule runs
FOLLOW_UP_SCHEDULE=${FOLLOW_UP_SCHEDULE:-"*/15 * * * *"}
VERIFY_SCHEDULE=${VERIFY_SCHEDULE:-"0 5 * * 0"}   # backup: restores the newest logical dump (engine postgres)
if [ "$fn" = backup ] && [ -z "$BACKUP_SET" ]; then
  echo "backup needs BACKUP_SET (the name of a [[backup.sets]] entry)" >&2
  exit 2
fi

svc="twincloud-${fn}"
runtime_sa="${svc}@${PROJECT}.iam.gserviceaccount.com"
invoker_sa="twincloud-invoker@${PROJECT}.iam.gserviceaccount.com"
image="${REGION}-docker.pkg.dev/${PROJECT}/${REPO}/${fn}:$(git rev-parse --short HEAD)"

gcloud config set project "$PROJECT" >/dev/null
gcloud services enable run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com \
  pubsub.googleapis.com eventarc.googleapis.com secretmanager.googleapis.com cloudscheduler.googleapis.com >/dev/null

gcloud iam service-accounts describe "$runtime_sa" >/dev/null 2>&1 ||
  gcloud iam service-accounts create "$svc" --display-name "twincloud ${fn} (runtime)"
gcloud iam service-accounts describe "$invoker_sa" >/dev/null 2>&1 ||
  gcloud iam service-accounts create twincloud-invoker --display-name "twincloud invoker (Pub/Sub, Eventarc, Scheduler)"

# Kubernetes compute on GKE: the cluster's endpoint and CA are read with container.clusters.get;
# what the function may do inside the cluster is the README's Role, bound to this account.
if [ -n "${GKE_PROJECT:-}" ] && [[ " failover scaling deploy budget-guard readiness " == *" $fn "* ]]; then
  gcloud projects add-iam-policy-binding "$GKE_PROJECT" --member "serviceAccount:${runtime_sa}" \
    --role roles/container.clusterViewer --condition None >/dev/null
  echo "bind the README's Kubernetes Role to ${runtime_sa} in each cluster (RoleBinding, kind User)"
fi

# Each runtime account gets exactly what its function needs, resource by resource (no
# project-wide role but Cloud SQL's, which has no per-instance grant).
grant_bucket() { # BUCKET ROLE [OBJECT_PREFIX]: the role on the bucket, or on objects under the prefix
  if [ -n "${3:-}" ]; then
    local cond="resource.name.startsWith(\"projects/_/buckets/$1/objects/$3\") || resource.type == \"storage.googleapis.com/Bucket\""
    gcloud storage buckets add-iam-policy-binding "gs://$1" --member "serviceAccount:${runtime_sa}" --role "$2" \
      --condition "expression=${cond},title=twincloud-${fn}-$(echo "$3" | tr -c 'a-zA-Z0-9' '-' | cut -c1-40)" >/dev/null
  else
    gcloud storage buckets add-iam-policy-binding "gs://$1" --member "serviceAccount:${runtime_sa}" --role "$2" >/dev/null
  fi
}
# Its configuration: that object only.
case "$CONFIG" in
  gs://*)
    config_path=${CONFIG#gs://}; config_bucket=${config_path%%/*}; config_object=${config_path#*/}
    grant_bucket "$config_bucket" roles/storage.objectViewer "$config_object"
    ;;
esac
# Its state: STATE=gs://BUCKET/PREFIX (the config's project.state). It reads every record (the
# operations page, which every function serves, shows them all) and writes only its own, as the
# AWS template's StateObjects: the prefixes below (its FunctionSpec's `state.writes`, which a
# test compares), the notifier's records (its reports go through the notifier's routing), and
# its journal, audit and rejected records, whose second segment is a day.
state_writes() { # FUNCTION: the prefixes of the records it writes
  case "$1" in
    notifier) echo "notify/" ;;
    failover) echo "failover/" ;;
    scaling) echo "scaling/" ;;
    deploy) echo "deploy/" ;;
    budget-guard) echo "budget/ holds/" ;;
    backup) echo "backup/" ;;
    bucket-sync) echo "sync/" ;;
    readiness) echo "readiness/" ;;
  esac
}
grant_objects_matching() { # BUCKET ROLE TEMPLATE: objects whose name fits TEMPLATE ({day} is one segment)
  local cond="resource.name.extract(\"projects/_/buckets/$1/objects/$3\") != \"\""
  gcloud storage buckets add-iam-policy-binding "gs://$1" --member "serviceAccount:${runtime_sa}" --role "$2" \
    --condition "expression=${cond},title=twincloud-${fn}-$(echo "$3" | tr -c 'a-zA-Z0-9' '-' | cut -c1-40)" >/dev/null
}
case "${STATE:-}" in
  gs://*)
    state_path=${STATE#gs://}; state_bucket=${state_path%%/*}; state_prefix=${state_path#"$state_bucket"}; state_prefix=${state_prefix#/}
    base="${state_prefix:+${state_prefix%/}/}"
    grant_bucket "$state_bucket" roles/storage.objectViewer "$base"
    for p in $(state_writes "$fn") notify/ "journal/$fn/"; do
      grant_bucket "$state_bucket" roles/storage.objectAdmin "$base$p"
    done
    for p in "audit/{day}/notifier/" "audit/{day}/$fn/" "rejected/{day}/$fn/"; do
      grant_objects_matching "$state_bucket" roles/storage.objectAdmin "$base$p"
    done
    ;;
esac
# Its secrets: SECRETS="name ..." (the gcp-sm references in the config), each secret alone.
for secret in ${SECRETS:-}; do
  gcloud secrets add-iam-policy-binding "$secret" --member "serviceAccount:${runtime_sa}" \
    --role roles/secretmanager.secretAccessor >/dev/null
done
# Its reports: every function sends its own through the notifier's routing, so each may
# publish to the `pubsub` channels' topics (PUBLISH_TOPICS), those topics only.
for topic in ${PUBLISH_TOPICS:-}; do
  gcloud pubsub topics add-iam-policy-binding "$topic" --member "serviceAccount:${runtime_sa}" \
    --role roles/pubsub.publisher >/dev/null
done
case "$fn" in
  failover|scaling)
    for service in ${RUN_SERVICES:-}; do # the Cloud Run services it scales
      gcloud run services add-iam-policy-binding "$service" --region "$REGION" \
        --member "serviceAccount:${runtime_sa}" --role roles/run.developer >/dev/null
    done
    if [ "$fn" = scaling ]; then # Cloud Run load: Cloud Monitoring has no finer grant than the project's
      gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:${runtime_sa}" \
        --role roles/monitoring.viewer --condition None >/dev/null
    fi
    if [ "$fn" = failover ] && [ -n "${DNS_ZONE:-}" ]; then # the Cloud DNS zone of the failover record
      gcloud dns managed-zones add-iam-policy-binding "$DNS_ZONE" \
        --member "serviceAccount:${runtime_sa}" --role roles/dns.admin >/dev/null
    fi ;;
  deploy)
    for service in ${RUN_SERVICES:-}; do # the Cloud Run services it rolls images out to
      gcloud run services add-iam-policy-binding "$service" --region "$REGION" \
        --member "serviceAccount:${runtime_sa}" --role roles/run.developer >/dev/null
    done
    for account in ${RUN_SERVICE_ACCOUNTS:-}; do # a new revision runs as the service's account
      gcloud iam service-accounts add-iam-policy-binding "$account" \
        --member "serviceAccount:${runtime_sa}" --role roles/iam.serviceAccountUser >/dev/null
    done
    for repo in ${AR_REPOSITORIES:-}; do # LOCATION/REPOSITORY: pulls, and the mirrored pushes
      gcloud artifacts repositories add-iam-policy-binding "${repo#*/}" --location "${repo%%/*}" \
        --member "serviceAccount:${runtime_sa}" --role roles/artifactregistry.writer >/dev/null
    done
    if [ -n "${RUN_SERVICES:-}" ]; then # error rate and latency of the new revision
      gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:${runtime_sa}" \
        --role roles/monitoring.viewer --condition None >/dev/null
    fi ;;
  budget-guard)
    for service in ${RUN_SERVICES:-}; do # the Cloud Run services it may cap or stop
      gcloud run services add-iam-policy-binding "$service" --region "$REGION" \
        --member "serviceAccount:${runtime_sa}" --role roles/run.developer >/dev/null
    done
    if [ -n "${BILLING_ACCOUNT:-}" ]; then # reads its budgets back (the message is a hint)
      gcloud billing accounts add-iam-policy-binding "$BILLING_ACCOUNT" \
        --member "serviceAccount:${runtime_sa}" --role roles/billing.viewer >/dev/null
    fi
    # Detaching billing needs the project's billing manager role: granted only for the projects
    # named in DETACH_PROJECTS (the guard's detach steps, enabled by name in the config).
    for project in ${DETACH_PROJECTS:-}; do
      gcloud projects add-iam-policy-binding "$project" --member "serviceAccount:${runtime_sa}" \
        --role roles/billing.projectManager --condition None >/dev/null
    done
    # Undoing a detach links the project again: billing.resourceAssociations.create on the
    # billing account (roles/billing.user there), granted only when detaching is enabled.
    if [ -n "${DETACH_PROJECTS:-}" ]; then
      if [ -z "${BILLING_ACCOUNT:-}" ]; then
        echo "DETACH_PROJECTS needs BILLING_ACCOUNT: linking a project again (the undo) needs roles/billing.user on it" >&2
        exit 2
      fi
      gcloud billing accounts add-iam-policy-binding "$BILLING_ACCOUNT" \
        --member "serviceAccount:${runtime_sa}" --role roles/billing.user >/dev/null
    fi
    # Only the billing service agent may publish to the budget topic: the publish right is
    # the trust boundary of a GCP budget message (no API reports current spend).
    if [ -n "${BUDGET_TOPIC:-}" ]; then
      gcloud pubsub topics describe "$BUDGET_TOPIC" >/dev/null 2>&1 || gcloud pubsub topics create "$BUDGET_TOPIC"
      gcloud pubsub topics add-iam-policy-binding "$BUDGET_TOPIC" \
        --member "serviceAccount:billing-budget-alert@system.gserviceaccount.com" \
        --role roles/pubsub.publisher >/dev/null
    fi ;;
  readiness)
    # Reads only: what each Cloud Run service serves and can reach, and the record's TTL.
    for service in ${RUN_SERVICES:-}; do
      gcloud run services add-iam-policy-binding "$service" --region "$REGION" \
        --member "serviceAccount:${runtime_sa}" --role roles/run.viewer >/dev/null
    done
    if [ -n "${DNS_ZONE:-}" ]; then
      gcloud dns managed-zones add-iam-policy-binding "$DNS_ZONE" \
        --member "serviceAccount:${runtime_sa}" --role roles/dns.reader >/dev/null
    fi ;;
  bucket-sync)
    for bucket in ${SYNC_SOURCES:-$BUCKETS}; do grant_bucket "$bucket" roles/storage.objectViewer; done
    for bucket in ${SYNC_DESTINATIONS:-}; do grant_bucket "$bucket" roles/storage.objectAdmin; done ;;
  backup)
    # Cloud SQL has no per-instance grant: a custom role with only what backups do (list the
    # instances and their backup runs, take and delete backup runs, export), not
    # cloudsql.editor (which could change, import into or restart any instance).
    perms=cloudsql.instances.list,cloudsql.instances.get,cloudsql.instances.export,cloudsql.backupRuns.list,cloudsql.backupRuns.get,cloudsql.backupRuns.create,cloudsql.backupRuns.delete
    if gcloud iam roles describe twincloudBackup --project "$PROJECT" >/dev/null 2>&1; then
      gcloud iam roles update twincloudBackup --project "$PROJECT" --permissions "$perms" --quiet >/dev/null
    else
      gcloud iam roles create twincloudBackup --project "$PROJECT" --title "twincloud backup" \
        --permissions "$perms" >/dev/null
    fi
    gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:${runtime_sa}" \
      --role "projects/${PROJECT}/roles/twincloudBackup" --condition None >/dev/null
    for bucket in ${EXPORT_BUCKETS:-}; do grant_bucket "$bucket" roles/storage.objectViewer; done ;;
esac

gcloud artifacts repositories describe "$REPO" --location "$REGION" >/dev/null 2>&1 ||
  gcloud artifacts repositories create "$REPO" --repository-format docker --location "$REGION"

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
"$(dirname "$0")/stage.sh" "$fn" "$context/image"
gcloud builds submit --tag "$image" "$context/image"

# The audience every push subscription and scheduler job puts in its token, and the service
# verifies: the service's deterministic URL, known before the first deploy, so every variable
# is set in this one step (a redeploy never runs, even for a moment, without verification).
project_number=$(gcloud projects describe "$PROJECT" --format 'value(projectNumber)')
url="https://${svc}-${project_number}.${REGION}.run.app"
# COMMAND_CALLERS: comma-separated accounts whose own calls may carry commands (failback,
# backup, sync); everyone else's commands are refused.
# Variables are joined with `@` (gcloud's `^@^` alternate delimiter): the callers' list holds commas.
env_vars="TWINCLOUD_CONFIG=${CONFIG}@TWINCLOUD_PUSH_AUDIENCE=${url}@TWINCLOUD_PUSH_SERVICE_ACCOUNT=${invoker_sa}"
if [ -n "${COMMAND_CALLERS:-}" ]; then env_vars="${env_vars}@TWINCLOUD_COMMAND_CALLERS=${COMMAND_CALLERS// /}"; fi
# AWS_ROLE_ARN: the role the service acts as on AWS, assumed with a Google-signed ID token
# (AssumeRoleWithWebIdentity; no key file). Its trust policy is printed below.
if [ -n "${AWS_ROLE_ARN:-}" ]; then
  env_vars="${env_vars}@TWINCLOUD_AWS_ROLE_ARN=${AWS_ROLE_ARN}@AWS_REGION=${AWS_REGION:-us-east-1}"
fi
if [ -n "${EXTRA_ENV:-}" ]; then env_vars="${env_vars}@${EXTRA_ENV//,/@}"; fi
gcloud run deploy "$svc" --image "$image" --region "$REGION" \
  --service-account "$runtime_sa" --no-allow-unauthenticated \
  --memory "${MEMORY:-128Mi}" --cpu 1 --concurrency 20 --max-instances 5 --timeout "${TIMEOUT:-150}" \
  --set-env-vars "^@^${env_vars}" >/dev/null
gcloud run services add-iam-policy-binding "$svc" --region "$REGION" \
  --member "serviceAccount:${invoker_sa}" --role roles/run.invoker >/dev/null
COMMAND_CALLERS=${COMMAND_CALLERS:-}
for caller in ${COMMAND_CALLERS//,/ }; do
  case "$caller" in *.gserviceaccount.com) member="serviceAccount:${caller}" ;; *) member="user:${caller}" ;; esac
  gcloud run services add-iam-policy-binding "$svc" --region "$REGION" \
    --member "$member" --role roles/run.invoker >/dev/null
done

# A delivery that keeps failing goes to a dead-letter topic after a bounded number of attempts,
# instead of being retried for the subscription's whole retention.
dead_letter="twincloud-dead-letter"
pubsub_agent="service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
if [ -n "$TOPICS" ]; then
  gcloud pubsub topics describe "$dead_letter" >/dev/null 2>&1 || gcloud pubsub topics create "$dead_letter"
  gcloud pubsub subscriptions describe "${dead_letter}-hold" >/dev/null 2>&1 ||
    gcloud pubsub subscriptions create "${dead_letter}-hold" --topic "$dead_letter" --message-retention-duration 7d >/dev/null
  gcloud pubsub topics add-iam-policy-binding "$dead_letter" \
    --member "serviceAccount:${pubsub_agent}" --role roles/pubsub.publisher >/dev/null
fi

for topic in $TOPICS; do
  sub="${svc}-${topic}"
  gcloud pubsub topics describe "$topic" >/dev/null 2>&1 || gcloud pubsub topics create "$topic"
  if gcloud pubsub subscriptions describe "$sub" >/dev/null 2>&1; then
    gcloud pubsub subscriptions update "$sub" --push-endpoint "$url" \
      --push-auth-service-account "$invoker_sa" --push-auth-token-audience "$url" \
      --dead-letter-topic "$dead_letter" --max-delivery-attempts 10 >/dev/null
  else
    gcloud pubsub subscriptions create "$sub" --topic "$topic" --push-endpoint "$url" \
      --push-auth-service-account "$invoker_sa" --push-auth-token-audience "$url" \
      --ack-deadline 60 --min-retry-delay 10s --max-retry-delay 600s \
      --dead-letter-topic "$dead_letter" --max-delivery-attempts 10
  fi
  gcloud pubsub subscriptions add-iam-policy-binding "$sub" \
    --member "serviceAccount:${pubsub_agent}" --role roles/pubsub.subscriber >/dev/null
done
schedule_job() { # JOB CRON BODY DEADLINE
  # Cloud Scheduler adds X-CloudScheduler-ScheduleTime, so every tick has its own event id
  # and time (a backup names its snapshots after it).
  local verb
  if gcloud scheduler jobs describe "$1" --location "$REGION" >/dev/null 2>&1; then verb=update; else verb=create; fi
  gcloud scheduler jobs "$verb" http "$1" --location "$REGION" --schedule "$2" \
    --uri "$url" --http-method POST --headers "Content-Type=application/json" --message-body "$3" \
    --oidc-service-account-email "$invoker_sa" --oidc-token-audience "$url" --attempt-deadline "$4" >/dev/null
}
if [ -n "$SCHEDULE" ] && [ "$fn" = backup ]; then
  schedule_job "${svc}-${BACKUP_SET}" "$SCHEDULE" \
    "{\"twincloud\": \"schedule\", \"name\": \"${BACKUP_SET}\"}" 1800s
  schedule_job "${svc}-${BACKUP_SET}-follow-up" "$FOLLOW_UP_SCHEDULE" \
    "{\"twincloud\": \"schedule\", \"name\": \"${BACKUP_SET}\", \"args\": {\"set\": \"${BACKUP_SET}\", \"follow_up\": true}}" 1800s
  schedule_job "${svc}-${BACKUP_SET}-verify" "$VERIFY_SCHEDULE" \
    "{\"twincloud\": \"schedule\", \"name\": \"${BACKUP_SET}\", \"args\": {\"set\": \"${BACKUP_SET}\", \"verify\": true}}" 1800s
  echo "each Cloud SQL instance's own service account needs roles/storage.objectAdmin on its export bucket"
  echo "engine postgres: the runtime account needs roles/storage.objectAdmin on the dumps' bucket; the image carries pg_dump (infra/pg-layer)"
elif [ -n "$SCHEDULE" ]; then
  schedule_job "${svc}-schedule" "$SCHEDULE" "{\"twincloud\": \"schedule\", \"name\": \"${fn}\"}" 180s
fi
for bucket in $BUCKETS; do
  # GCS publishes through its own service agent; Eventarc needs it to publish to Pub/Sub.
  gcs_agent=$(gcloud storage service-agent --project "$PROJECT")
  gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:${gcs_agent}" \
    --role roles/pubsub.publisher --condition None >/dev/null
  for kind in finalized deleted; do
    trigger="${svc}-${bucket}-${kind}"
    gcloud eventarc triggers describe "$trigger" --location "$REGION" >/dev/null 2>&1 ||
      gcloud eventarc triggers create "$trigger" --location "$REGION" \
        --destination-run-service "$svc" --destination-run-region "$REGION" \
        --event-filters "type=google.cloud.storage.object.v1.${kind}" \
        --event-filters "bucket=${bucket}" \
        --service-account "$invoker_sa" >/dev/null
  done
done
if [ -n "${AWS_ROLE_ARN:-}" ]; then
  sa_id=$(gcloud iam service-accounts describe "$runtime_sa" --format 'value(uniqueId)')
  cat <<TRUST
${AWS_ROLE_ARN} must trust this service's account, and only it (its trust policy):
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "accounts.google.com"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"accounts.google.com:sub": "${sa_id}",
                                 "accounts.google.com:aud": "sts.amazonaws.com"}}}]}
TRUST
fi
echo "deployed ${svc}: ${url}"
