SELECT stats.relname
FROM pg_stat_user_tables AS stats
JOIN pg_class AS class ON class.oid = stats.relid
WHERE stats.relname = ANY(%(tables)s)
  AND stats.n_mod_since_analyze > COALESCE(
        (SELECT CAST(option_value AS float8) FROM pg_options_to_table(class.reloptions)
         WHERE option_name = 'autovacuum_analyze_threshold'),
        CAST(current_setting('autovacuum_analyze_threshold') AS float8))
      + COALESCE(
        (SELECT CAST(option_value AS float8) FROM pg_options_to_table(class.reloptions)
         WHERE option_name = 'autovacuum_analyze_scale_factor'),
        CAST(current_setting('autovacuum_analyze_scale_factor') AS float8)) * GREATEST(class.reltuples, 0)
ORDER BY stats.relname
