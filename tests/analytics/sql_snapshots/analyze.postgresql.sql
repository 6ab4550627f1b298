ANALYZE "analytics_fold_batch_days"
