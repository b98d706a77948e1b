# State of the dev environment: terraform init -backend-config=../backend-dev.hcl
# (./dev just infra-plan dev does that). A placeholder bucket: the account's own state
# bucket, versioned and created once outside this stack. Locking uses S3 itself
# (use_lockfile, Terraform 1.10+), so no DynamoDB table is needed.
bucket       = "fundsync-terraform-state-dev"
key          = "fund-data-sync/dev/terraform.tfstate"
region       = "ap-southeast-1"
encrypt      = true
use_lockfile = true
