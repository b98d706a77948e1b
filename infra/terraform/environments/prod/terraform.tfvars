# Placeholders of the prod account's shapes: replace with the real IDs before an apply.
account_id                  = "333333333333"
bucket_name                 = "fund-data-lake-prod"
db_secret_arn               = "arn:aws:secretsmanager:ap-southeast-1:333333333333:secret:fundsync/aurora-prod-AbCdEf"
vpc_id                      = "vpc-0prod0000000000000"
private_subnet_ids          = ["subnet-0prod0000000000001", "subnet-0prod0000000000002"]
aurora_security_group_id    = "sg-0prod0000000aurora0"
endpoints_security_group_id = "sg-0prod00000endpoints"
s3_prefix_list_id           = "pl-6fa54006"
image_tag                   = "prod"
maximum_concurrency         = 4
reserved_concurrency        = 6
