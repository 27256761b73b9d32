"""The AWS target's own API code (boto3): change sets, the Glue code upload, Athena queries."""
