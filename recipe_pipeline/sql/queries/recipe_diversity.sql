-- Distinct recipes and total recipe mentions by day (the seed's "recipe diversity").
-- params: start_ymd, end_ymd, start_date, end_date
-- The partition columns bound the read (Athena lists only those days' objects), the date the rows.
SELECT
    "date",
    cardinality(map_keys(recipes_discussed)) AS unique_recipes,
    reduce(map_values(recipes_discussed), 0, (s, x) -> s + coalesce(x, 0), s -> s) AS total_recipe_mentions
FROM daily_metrics
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
    AND "date" BETWEEN ? AND ?
ORDER BY "date" DESC
