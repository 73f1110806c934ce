#!/usr/bin/env bash
# Lets the twincloud functions on AWS reach GCP without a key file (Workload Identity
# Federation with AWS as the identity provider):
#
#   PROJECT=aion-prod AWS_ACCOUNT=111122223333 STACK=aion-twincloud infra/gcp/federate-aws.sh
#
#   1. a workload identity pool `twincloud` whose AWS provider admits only the roles of the SAM
#      stack STACK in account AWS_ACCOUNT (SAM names them `<stack>-<Function>Role-...`);
#   2. a service account `twincloud-aws` that those roles, and nothing else, may impersonate;
#      grant it what the AWS side reaches on GCP (the state bucket, GCS destinations, the
#      failover's Cloud Run service and DNS zone) as deploy.sh grants the GCP functions;
#   3. writes the credential configuration (federation/aws.json): no secret in it; pass it to
#      the SAM stack as GcpCredentialConfig (one line of JSON).
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${AWS_ACCOUNT:?set AWS_ACCOUNT (the 12-digit account of the stack)}"
: "${STACK:?set STACK (the SAM stack name)}"
POOL=${POOL:-twincloud}
PROVIDER=${PROVIDER:-aws-${AWS_ACCOUNT}}
OUT=${OUT:-federation}
sa="twincloud-aws@${PROJECT}.iam.gserviceaccount.com"

project_number=$(gcloud projects describe "$PROJECT" --format 'value(projectNumber)')
pool="projects/${project_number}/locations/global/workloadIdentityPools/${POOL}"
gcloud services enable iamcredentials.googleapis.com sts.googleapis.com --project "$PROJECT" >/dev/null
gcloud iam workload-identity-pools describe "$POOL" --project "$PROJECT" --location global >/dev/null 2>&1 ||
  gcloud iam workload-identity-pools create "$POOL" --project "$PROJECT" --location global \
    --display-name "twincloud on AWS"
verb=create-aws
if gcloud iam workload-identity-pools providers describe "$PROVIDER" --project "$PROJECT" \
  --location global --workload-identity-pool "$POOL" >/dev/null 2>&1; then verb=update-aws; fi
gcloud iam workload-identity-pools providers "$verb" "$PROVIDER" --project "$PROJECT" \
  --location global --workload-identity-pool "$POOL" --account-id "$AWS_ACCOUNT" \
  --attribute-mapping "google.subject=assertion.arn,attribute.aws_role=assertion.arn.extract('assumed-role/{role}/')" \
  --attribute-condition "assertion.arn.startsWith('arn:aws:sts::${AWS_ACCOUNT}:assumed-role/${STACK}-')" >/dev/null
gcloud iam service-accounts describe "$sa" --project "$PROJECT" >/dev/null 2>&1 ||
  gcloud iam service-accounts create twincloud-aws --project "$PROJECT" --display-name "twincloud functions on AWS"
# The pool admits only the stack's roles (the provider's condition): all of its identities.
gcloud iam service-accounts add-iam-policy-binding "$sa" --project "$PROJECT" \
  --role roles/iam.workloadIdentityUser --member "principalSet://iam.googleapis.com/${pool}/*" >/dev/null
mkdir -p "$OUT"
gcloud iam workload-identity-pools create-cred-config "${pool}/providers/${PROVIDER}" \
  --service-account "$sa" --aws --output-file "${OUT}/aws.json"
echo "${OUT}/aws.json holds no secret: deploy with --parameter-overrides GcpCredentialConfig=\"\$(tr -d '\\n' < ${OUT}/aws.json)\""
