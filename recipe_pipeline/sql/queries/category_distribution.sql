-- Recipe mentions, conversations and users per category in a date range.
-- params: start_ymd, end_ymd
SELECT
    recipe_category,
    COUNT(*) AS mentions,
    COUNT(DISTINCT conversation_id) AS conversations,
    COUNT(DISTINCT user_id) AS users
FROM recipe_conversations
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
    AND recipe_category IS NOT NULL
GROUP BY recipe_category
ORDER BY mentions DESC, recipe_category
