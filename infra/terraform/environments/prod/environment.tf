# fund-data-sync, prod: main.tf and variables.tf are links to ../_root (the same root for
# every environment); this file names the environment, terraform.tfvars gives its values.
locals {
  environment = "prod"
}
