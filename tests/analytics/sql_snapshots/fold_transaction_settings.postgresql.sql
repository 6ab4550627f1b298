SET LOCAL work_mem = '256MB'; SET LOCAL synchronous_commit = off; SET LOCAL enable_nestloop = off
