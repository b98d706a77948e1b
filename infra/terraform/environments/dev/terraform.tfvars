# Placeholders of the dev account's shapes: replace with the real IDs before an apply.
account_id                  = "111111111111"
bucket_name                 = "fund-data-lake-dev"
db_secret_arn               = "arn:aws:secretsmanager:ap-southeast-1:111111111111:secret:fundsync/aurora-dev-AbCdEf"
vpc_id                      = "vpc-0dev0000000000000"
private_subnet_ids          = ["subnet-0dev0000000000001", "subnet-0dev0000000000002"]
aurora_security_group_id    = "sg-0dev0000000aurora0"
endpoints_security_group_id = "sg-0dev00000endpoints"
s3_prefix_list_id           = "pl-6fa54006"
image_tag                   = "dev"
maximum_concurrency         = 2
reserved_concurrency        = 3
