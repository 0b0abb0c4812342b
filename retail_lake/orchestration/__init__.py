"""Running the pipeline through the AWS APIs (the same calls on AWS, LocalStack and the embedded twin)."""
