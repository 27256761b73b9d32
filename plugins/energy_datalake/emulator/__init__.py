"""The local stand-ins of the AWS services, each named after the one it stands for, on embedded engines."""
