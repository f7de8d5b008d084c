"""The local stack: skucast on one machine with no AWS account and no Docker (see README)."""
