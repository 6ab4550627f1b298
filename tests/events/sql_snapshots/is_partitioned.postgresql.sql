SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)
