"""The archiver: packets from Kafka into Parquet files on file://, s3:// or gs://, exactly once."""
