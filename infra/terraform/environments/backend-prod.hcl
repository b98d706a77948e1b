# State of the prod environment: terraform init -backend-config=../backend-prod.hcl
# (./dev just infra-plan prod does that). A placeholder bucket: the account's own state
# bucket, versioned and created once outside this stack. Locking uses S3 itself
# (use_lockfile, Terraform 1.10+), so no DynamoDB table is needed.
bucket       = "fundsync-terraform-state-prod"
key          = "fund-data-sync/prod/terraform.tfstate"
region       = "ap-southeast-1"
encrypt      = true
use_lockfile = true
