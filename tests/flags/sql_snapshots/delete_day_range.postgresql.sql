DELETE FROM "flags_flagreachpoint" WHERE "day" >= %s AND "day" < %s AND "environment_id" = %s
