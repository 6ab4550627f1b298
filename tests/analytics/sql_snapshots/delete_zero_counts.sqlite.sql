DELETE FROM "events_featurereachcounter" WHERE "product_id" = %(product)s AND "count" = 0
