-- Seasonal trend: recipe mentions per category per ISO week (weeks start on Monday).
-- params: start_ymd, end_ymd
SELECT
    CAST(CAST(date_trunc('week', CAST(message_ts AS date)) AS date) AS varchar) AS week,
    recipe_category,
    COUNT(*) AS mentions
FROM recipe_conversations
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
    AND recipe_category IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 3 DESC, 2
