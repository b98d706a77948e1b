# Placeholders of the staging account's shapes: replace with the real IDs before an apply.
account_id                  = "222222222222"
bucket_name                 = "fund-data-lake-staging"
db_secret_arn               = "arn:aws:secretsmanager:ap-southeast-1:222222222222:secret:fundsync/aurora-staging-AbCdEf"
vpc_id                      = "vpc-0staging0000000000000"
private_subnet_ids          = ["subnet-0staging0000000000001", "subnet-0staging0000000000002"]
aurora_security_group_id    = "sg-0staging0000000aurora0"
endpoints_security_group_id = "sg-0staging00000endpoints"
s3_prefix_list_id           = "pl-6fa54006"
image_tag                   = "staging"
maximum_concurrency         = 2
reserved_concurrency        = 4
