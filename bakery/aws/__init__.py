"""The AWS gateway: the only package that talks to AWS (boto3), imported only where needed."""
