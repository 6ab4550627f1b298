SELECT "key", "id" FROM "events_license" WHERE "product_id" = %s AND "key" = ANY(%s)
