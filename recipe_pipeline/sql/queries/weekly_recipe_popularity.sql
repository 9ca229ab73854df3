-- Most discussed recipes in a date range (the seed's "weekly recipe popularity").
-- params: start_ymd, end_ymd
SELECT
    recipe_name,
    COUNT(*) AS mentions,
    COUNT(DISTINCT user_id) AS unique_users
FROM recipe_conversations
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
    AND recipe_name IS NOT NULL
GROUP BY recipe_name
ORDER BY mentions DESC, recipe_name
LIMIT 20
